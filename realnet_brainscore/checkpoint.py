"""This package's checkpoint files: one writer, one reader.

Written: the published ReAlnet layout (``realnet.module.<CORnet-S key>``, head ``fc_v1 … fc``) under
``state_dict``, this package's ``meta`` (always with its ``format`` tag) and extras such as the EEG
z-score statistics or the optimiser state, atomically. Read with ``torch.load(..., weights_only=True)``:
this package's files, the published CORnet-S and ReAlnet releases and bare state dicts; a file that
is none of these, or that carries another format tag, is refused in one line.
"""
import pickle
import re
import warnings
import zipfile
from pathlib import Path
from typing import NamedTuple

import torch

from . import bounds
from .errors import RealnetError, first_line
from .files import atomic_path

FORMAT = 'realnet-brainscore/1'
BACKBONE_PREFIX = 'realnet.module.'  # the published ReAlnet files' backbone keys
_HEAD_KEY = re.compile(r'(fc_v1|fc_v2|fc_v4|fc_it|fc)\.')


class Checkpoint(NamedTuple):
    state_dict: dict[str, torch.Tensor]  # as stored: split_state_dict() gives backbone and head
    meta: dict                           # this package's metadata; {} for other files
    extras: dict                         # the other top-level entries (eeg_mean, optimizer, best_val_loss, ...)


def write_checkpoint(path, backbone: dict[str, torch.Tensor], head: dict[str, torch.Tensor] | None = None,
                     meta: dict | None = None, **extras) -> None:
    """Write ``backbone`` (CORnet-S keys) and ``head`` in the published ReAlnet layout, ``meta``
    tagged with ``FORMAT`` and ``extras``, atomically: ``path`` holds the old file or the new one."""
    state = {f'{BACKBONE_PREFIX}{key}': tensor.detach().cpu() for key, tensor in backbone.items()}
    state.update({key: tensor.detach().cpu() for key, tensor in (head or {}).items()})
    # first, and never the caller's: the tag says who wrote the file
    tagged = {'format': FORMAT, **{key: value for key, value in (meta or {}).items() if key != 'format'}}
    with atomic_path(path) as partial:
        torch.save({'state_dict': state, 'meta': tagged, **extras}, partial)


def read_checkpoint(path, advice: str = '') -> Checkpoint:
    """A checkpoint file, loaded with ``weights_only=True``; ``advice`` ends each refusal's line.

    Accepts a bare state dict and ``{'state_dict': ..., <bookkeeping>}`` (the dicarlolab layout and
    this package's, whose ``meta`` must carry no other format tag than ``FORMAT``).
    """
    path = Path(path)
    checkpoint = _load(path, advice)
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else checkpoint
    if not isinstance(state, dict) or not state or not all(
            isinstance(key, str) and isinstance(value, torch.Tensor) for key, value in state.items()):
        found = 'an empty one' if isinstance(state, dict) and not state else type(state).__name__
        raise _refusal(path, f'not a state dict (expected a mapping of parameter names to tensors, found {found})',
                       advice)
    if state is checkpoint:
        return Checkpoint(state, {}, {})
    meta = checkpoint.get('meta')
    meta = meta if isinstance(meta, dict) else {}
    tag = meta.get('format', FORMAT)
    if not (isinstance(tag, str) and tag == FORMAT):
        shown = repr(tag) if isinstance(tag, str) else f'of type {type(tag).__name__}'
        raise _refusal(path, f'checkpoint format {shown}, not {FORMAT!r}: written by another version of '
                             'realnet-brainscore or another program', advice)
    extras = {key: value for key, value in checkpoint.items() if key not in ('state_dict', 'meta')}
    return Checkpoint(state, meta, extras)


def recorded_image_size(checkpoint: Checkpoint, path, default: int) -> int:
    """The input size a checkpoint's weights were trained at (its meta's ``config.image_size``),
    ``default`` when it records none; a recorded value that is not a positive whole number is
    refused in one line."""
    config = checkpoint.meta.get('config', {})
    size = config.get('image_size', default) if isinstance(config, dict) else None
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise _refusal(Path(path), f'its meta records no usable image size (config: {config!r:.60})', '')
    if size > bounds.IMAGE_SIZE:  # the file's word alone would size every batch of images
        raise _refusal(Path(path), f'its meta records an image size of {size} px, above the bound of '
                                   f'{bounds.IMAGE_SIZE} px', '')
    return size


def _load(path: Path, advice: str):
    """What ``torch.load(..., weights_only=True)`` finds in ``path``; a file it cannot read is refused."""
    if not path.is_file():
        raise _refusal(path, 'no such file', advice)
    if not _looks_like_torch_file(path):
        raise _refusal(path, 'not a PyTorch checkpoint, or a truncated one (neither a complete zip archive '
                             'nor a pickle)', advice)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', UserWarning)  # pickle-protocol notes; the error below says it all
            return torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as error:
        raise _refusal(path, 'refused: it holds Python objects other than tensors and plain containers, '
                             'which weights-only loading does not run', advice) from error
    except Exception as error:  # damaged archive members, unsupported storage, ...
        raise _refusal(path, f'not a readable PyTorch checkpoint: {first_line(error)}', advice) from error


def _refusal(path: Path, reason: str, advice: str) -> RealnetError:
    return RealnetError(f'{path}: {reason}' + (f'; {advice}' if advice else ''))


def _looks_like_torch_file(path: Path) -> bool:
    """torch.save writes a zip archive (since 1.6) or, before, a pickle (first byte 0x80)."""
    if zipfile.is_zipfile(path):
        return True
    with open(path, 'rb') as stream:
        return stream.read(1) == b'\x80'


def split_state_dict(state: dict[str, torch.Tensor], cornet: bool = True):
    """(backbone, head) state dicts with the backbone's own keys; ``head`` is empty for a plain backbone file.

    Files in the ReAlnet layout (this package's and the published encoders) prefix every backbone key
    with ``realnet.module.``: the rest is the head, whatever the backbone's own names (a ResNet has an
    ``fc``). Other files are a backbone, with ``module.`` (DataParallel, dicarlolab) stripped, plus, for
    CORnet-S (``cornet``), any head keys ``fc_v1 … fc``.
    """
    if any(key.startswith(BACKBONE_PREFIX) for key in state):
        backbone = {key.removeprefix(BACKBONE_PREFIX): t for key, t in state.items() if key.startswith(BACKBONE_PREFIX)}
        return backbone, {key: t for key, t in state.items() if not key.startswith(BACKBONE_PREFIX)}
    backbone, head = {}, {}
    for key, tensor in state.items():
        if cornet and _HEAD_KEY.match(key):
            head[key] = tensor
        else:
            backbone[key.removeprefix('module.')] = tensor
    return backbone, head
