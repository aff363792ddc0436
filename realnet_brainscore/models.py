"""Brain-Score models: each identifier becomes its own network inside a ``ModelCommitment``."""
import functools
from pathlib import Path
from typing import NamedTuple

from torch import nn

from .checkpoint import read_checkpoint, recorded_image_size, split_state_dict
from .cornet import AREAS, CORnetS
from .encoder import EncodingHead
from .errors import RealnetError, first_line
from .weights import WEIGHTS, model_identifier, resolve, source

BEHAVIORAL_READOUT_LAYER = 'decoder.avgpool'
LAYERS = [*AREAS, BEHAVIORAL_READOUT_LAYER]
REGION_LAYER_MAP = {area: area for area in AREAS}  # each region is read from the CORnet-S area of its name
IMAGE_SIZE = 224  # the published models' input size
VISUAL_DEGREES = 8  # Brain-Score's default; benchmarks declare their own
BATCH_SIZE = 64  # images per forward pass when scoring


class Network(NamedTuple):
    identifier: str             # the Brain-Score identifier: changes whenever the weights do
    backbone: CORnetS
    head: EncodingHead | None   # the EEG encoding head, when the file has one
    image_size: int             # input pixels: what the weights were trained at (published: 224)


def list_models() -> list[str]:
    return list(WEIGHTS)


def load_network(identifier: str, weights=None, progress: bool = True) -> Network:
    """A fresh network for ``identifier``: published weights, or those of the file ``weights``.

    A user's file gives the identifier ``<identifier>+<sha256[:8]>`` so that Brain-Score's
    activation cache, keyed by identifier, never mixes it up with the published weights.
    """
    source(identifier)  # unknown identifiers fail before any file work
    if weights is None:
        path = resolve(identifier, progress=progress)
    else:
        path = Path(weights)
        if not path.is_file():
            raise RealnetError(f'{path}: no such weights file')
    network_identifier = model_identifier(identifier, None if weights is None else path)
    checkpoint = read_checkpoint(path)
    backbone_state, head_state = split_state_dict(checkpoint.state_dict)
    backbone = CORnetS()
    _load_strict(backbone, backbone_state, path, 'CORnet-S')
    head = None
    if head_state:
        try:
            head = EncodingHead.from_state_dict(head_state)
        except (ValueError, RuntimeError) as error:
            raise RealnetError(f'{path}: its encoding head does not load: {first_line(error)}') from error
    image_size = recorded_image_size(checkpoint, path, IMAGE_SIZE)
    return Network(network_identifier, backbone.eval(), head.eval() if head else None, image_size)


def load_model(identifier: str, weights=None, batch_size: int = BATCH_SIZE, image_size: int | None = None):
    """``identifier`` as a Brain-Score ``ModelCommitment`` (layers V1 V2 V4 IT decoder.avgpool).

    ``batch_size`` is the number of images per forward pass; Brain-Score pads the last batch to it.
    Images are resized to ``image_size``, by default the size the weights were trained at (224 px
    unless a checkpoint of this package's trainer says otherwise).
    """
    network = load_network(identifier, weights)  # first: a missing file fails before slow imports
    if image_size is not None:
        network = network._replace(image_size=image_size)
    from brainscore_vision.model_helpers.activations.pytorch import PytorchWrapper, load_preprocess_images
    from brainscore_vision.model_helpers.brain_transformation import ModelCommitment

    wrapper = PytorchWrapper(identifier=network.identifier, model=network.backbone,
                             preprocessing=functools.partial(load_preprocess_images, image_size=network.image_size),
                             batch_size=batch_size)
    wrapper.image_size = network.image_size
    return ModelCommitment(identifier=network.identifier, activations_model=wrapper, layers=LAYERS,
                           region_layer_map=dict(REGION_LAYER_MAP),
                           behavioral_readout_layer=BEHAVIORAL_READOUT_LAYER,
                           visual_degrees=VISUAL_DEGREES)


def _load_strict(module: nn.Module, state: dict, path, what: str) -> None:
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

