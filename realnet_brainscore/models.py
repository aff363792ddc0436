"""Brain-Score models: each identifier becomes its own network inside a ``ModelCommitment``."""
import functools
from pathlib import Path
from typing import NamedTuple

from torch import nn

from . import bounds, identifiers
from .backbones import (CORNET, CORNET_SPEC, BackboneSpec, create, describe, is_backbone, pretrained_file,
                        torchvision_weights)
from .checkpoint import Checkpoint, read_checkpoint, recorded_image_size, split_state_dict
from .encoder import EncodingHead
from .errors import RealnetError, first_line, printable
from .files import regular_file
from .weights import WEIGHTS, model_identifier, resolve, source

BEHAVIORAL_READOUT_LAYER = CORNET_SPEC.readout
LAYERS = CORNET_SPEC.brainscore_layers  # V1 V2 V4 IT decoder.avgpool
REGION_LAYER_MAP = dict(CORNET_SPEC.regions)  # each region is read from the CORnet-S area of its name
IMAGE_SIZE = 224  # the published models' input size
VISUAL_DEGREES = 8  # Brain-Score's default; benchmarks declare their own
BATCH_SIZE = 64  # images per forward pass when scoring


class Network(NamedTuple):
    identifier: str             # the Brain-Score identifier: changes whenever the weights do
    backbone: nn.Module
    head: EncodingHead | None   # the encoding head, when the file has one
    image_size: int             # input pixels: what the weights were trained at (published: 224)
    spec: BackboneSpec = CORNET_SPEC  # layers, regions and readout


def list_models() -> list[str]:
    return list(WEIGHTS)


def aligned_name(meta: dict, path=None) -> str | None:
    """What a checkpoint of this package's trainer is called (see ``identifiers``): ``realnet-s01``
    (CORnet-S and EEG, as published), else ``<backbone>-<eeg|meg|fmri>-<s01|group>``; None for others.
    The name comes from the file: one that would not pass ``identifiers.confined`` (a modality other
    than EEG or fMRI, a subject outside 1-99, a backbone name with separators, too long) is refused
    in one line naming ``path``, before it can become a path or a registry key."""
    backbone = BackboneSpec.from_meta(meta.get('backbone')).name
    modality, subject = meta.get('modality', 'EEG'), meta.get('subject')
    try:
        if meta.get('subjects'):
            name = identifiers.aligned(backbone, modality, group=True)
        elif isinstance(subject, int) and not isinstance(subject, bool):
            name = identifiers.aligned(backbone, modality, subject)
        else:
            return None
        return identifiers.confined(str(name))
    except RealnetError as error:
        raise RealnetError(f'{printable(str(path or "the checkpoint"))}: its metadata gives it no usable model name: '
                           f'{printable(str(error))}') from error


def checked_name(identifier: str, checkpoint: Checkpoint, path) -> BackboneSpec | None:
    """The backbone of ``checkpoint`` once ``identifier`` is shown to fit it: a file of this package's
    trainer loads only under the name it gives itself (``realnet-s03`` for subject 3), another
    CORnet-S file under any published identifier, a plain file of another architecture under that
    architecture's name (None: ``describe`` it once built)."""
    try:
        spec = BackboneSpec.from_meta(checkpoint.meta.get('backbone'))
    except ValueError as error:
        raise RealnetError(f'{path}: {error}') from error
    own = aligned_name(checkpoint.meta, path)
    if identifier == own or (own is None and spec.name == CORNET and identifier in WEIGHTS):
        return spec
    if own is None and 'backbone' not in checkpoint.meta and is_backbone(identifier):
        return None
    if own is None:
        source(identifier)  # the unknown-model line, naming the known ones
    raise RealnetError(f'{path} holds {own or "a " + spec.name}; load it as {own or "cornet-s"}, not {identifier}')


def load_network(identifier: str, weights=None, progress: bool = True) -> Network:
    """A fresh network for ``identifier``: published weights (the table's; torchvision's for its
    architecture names), or those of the file ``weights``.

    A user's file (and torchvision's) gives the identifier ``<identifier>+<sha256[:8]>`` so that
    Brain-Score's activation cache, keyed by identifier, never mixes it up with other weights.
    """
    path = _weights_file(identifier, weights, progress)
    checkpoint = read_checkpoint(path)
    spec = CORNET_SPEC if identifier in WEIGHTS and weights is None else checked_name(identifier, checkpoint, path)
    architecture = spec.name if spec else identifier
    backbone_state, head_state = split_state_dict(checkpoint.state_dict, cornet=architecture == CORNET)
    backbone = create(architecture, from_file=spec is not None, drawn=False)  # a spec's name is the file's
    load_strict(backbone, backbone_state, path, 'CORnet-S' if architecture == CORNET else architecture)
    image_size = recorded_image_size(checkpoint, path, IMAGE_SIZE)
    spec = spec or describe(identifier, backbone, image_size)
    head = None
    if head_state:
        try:
            head = EncodingHead.from_state_dict(head_state, spec.layers, spec.pool)
        except (ValueError, RuntimeError) as error:
            raise RealnetError(f'{path}: its encoding head does not load: {first_line(error)}') from error
    return Network(network_identifier(identifier, weights), backbone.eval(), head.eval() if head else None, image_size, spec)


def network_identifier(identifier: str, weights=None) -> str:
    """Brain-Score's identifier of ``identifier`` with ``weights``: a file's adds ``+<sha256[:8]>``,
    torchvision's weights (a bare architecture name) the hash their file name carries."""
    if weights is None and identifier not in WEIGHTS and is_backbone(identifier):
        return identifiers.with_digest(identifier, torchvision_weights(identifier).digest)
    return model_identifier(identifier, weights)


def known(identifier: str) -> None:
    """Refuses in one line a name that is neither in the table nor a torchvision architecture."""
    if identifier not in WEIGHTS and (identifiers.is_timm(identifier) or not is_backbone(identifier)):
        source(identifier)


def _weights_file(identifier: str, weights, progress: bool) -> Path:
    if weights is not None:
        return regular_file(weights, 'weights file')  # a FIFO is refused, never opened
    known(identifier)
    if identifier not in WEIGHTS:
        return pretrained_file(identifier, progress)
    return resolve(identifier, progress=progress)  # unknown identifiers fail before any file work


def load_model(identifier: str, weights=None, batch_size: int = BATCH_SIZE, image_size: int | None = None):
    """``identifier`` as a Brain-Score ``ModelCommitment``: the layers of its regions and its
    behavioural readout (CORnet-S: V1 V2 V4 IT decoder.avgpool).

    ``batch_size`` is the number of images per forward pass; Brain-Score pads the last batch to it.
    Images are resized to ``image_size``, by default the size the weights were trained at (224 px
    unless a checkpoint of this package's trainer says otherwise).
    """
    bounds.check_at_most(batch_size, bounds.BATCH_SIZE, '`batch_size`')
    if image_size is not None:
        bounds.check_at_most(image_size, bounds.IMAGE_SIZE, '`image_size`')
    network = load_network(identifier, weights)  # first: a missing file fails before slow imports
    if image_size is not None:
        network = network._replace(image_size=image_size)
    from brainscore_vision.model_helpers.activations.pytorch import load_preprocess_images
    from brainscore_vision.model_helpers.brain_transformation import ModelCommitment
    from .extractor import RegionsAtOnce

    spec = network.spec
    wrapper = RegionsAtOnce(identifier=network.identifier, model=network.backbone,
                            preprocessing=functools.partial(load_preprocess_images, image_size=network.image_size),
                            batch_size=batch_size, region_layers=spec.regions.values(), image_size=network.image_size)
    return ModelCommitment(identifier=network.identifier, activations_model=wrapper, layers=spec.brainscore_layers,
                           region_layer_map=dict(spec.regions), behavioral_readout_layer=spec.readout,
                           visual_degrees=VISUAL_DEGREES)


def load_strict(module: nn.Module, state: dict, path, what: str) -> None:
    expected, found = set(module.state_dict()), set(state)
    if expected != found:
        missing, unexpected = sorted(expected - found), sorted(found - expected)
        raise RealnetError(f'{path}: keys do not match {what}: {_key_summary("missing", missing)}'
                           f'{"; " if missing and unexpected else ""}{_key_summary("unexpected", unexpected)}')
    try:
        module.load_state_dict(state, strict=True)
    except RuntimeError as error:  # shape mismatches
        raise RealnetError(f'{path}: does not fit {what}: {first_line(error, skip_header=True)}') from error


def _key_summary(kind: str, keys: list[str]) -> str:
    if not keys:
        return ''
    shown = ', '.join(keys[:3]) + (', …' if len(keys) > 3 else '')
    return f'{len(keys)} {kind} ({shown})'

