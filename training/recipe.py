"""The recorded recipe: every setting that shapes a trained network, the named presets `paper` and
`improved`, and the checks of those settings.

A checkpoint records a run's resolved ``Recipe`` (``record()``, beside the run's subjects) and
``resume`` compares exactly that. Errors name the setting in backquotes
(```lr` must be a positive number, got -1``); the command line swaps each for its flag.
"""
import dataclasses
import math
from dataclasses import dataclass
from pathlib import Path

from .. import bounds
from ..backbones import CORNET
from ..errors import RealnetError
from .loss import CLASSIFICATION_LOSSES

# Where the two named recipes differ (docs/faithfulness.md#training); everything else (lr 2e-5,
# batch 16, 30 epochs, β 100, seed 2023, ImageNet CORnet-S start) is the same in both.
RECIPES = {
    # The authors' notebook: teacher argmax, correlation term logged but detached, one mean and SD per
    # subject, two forward passes per step (batch-norm statistics updated twice), fp32 throughout.
    'paper': {'classification': 'hard', 'correlation_gradient': False, 'zscore': 'subject', 'forward_passes': 2,
              'precision': 'fp32'},
    # This package's variant: teacher probabilities, differentiable correlation term, per-feature z-score,
    # one pass per step, bf16 autocast on CUDA.
    'improved': {'classification': 'soft', 'correlation_gradient': True, 'zscore': 'feature', 'forward_passes': 1,
                 'precision': 'bf16'},
}
ZSCORES = ('subject', 'feature')
FORWARD_PASSES = (1, 2)
PRECISIONS = ('fp32', 'bf16')  # bf16: autocast on CUDA; the CPU trains in fp32 whatever this says
SELECT_ON = ('validation', 'test')
COMPILE_MODES = ('none', 'default', 'reduce-overhead')  # reduce-overhead: CUDA graphs
EEG_WINDOW = (0.0, 0.2)  # seconds: 20 samples at 100 Hz


@dataclass(frozen=True)
class Recipe:
    """How a network is trained. None: the named recipe's value (classification, correlation_gradient,
    zscore, forward_passes, precision), the EEG default (window), every channel (channels) or the backbone
    family's default."""
    backbone: str = CORNET               # cornet-s, a torchvision classifier or timm:NAME
    layers: tuple[str, ...] | None = None  # module names the head reads
    regions: dict | None = None          # V1 V2 V4 IT -> layer; None: spread over the layers in order
    pool: int | None = None              # the head averages each layer's output to pool×pool first
    backbone_weights: Path | None = None  # None: the library's ImageNet weights
    drop_nan_voxels: bool = False        # fMRI: leave out voxels with NaN values instead of refusing the data
    epochs: int = 30
    batch_size: int = 16
    lr: float = 2e-5
    beta: float = 100.0
    seed: int = 2023
    window: tuple[float, float] | None = None  # EEG only
    channels: tuple[str, ...] | None = None    # EEG only
    recipe: str = 'paper'
    classification: str | None = None
    correlation_gradient: bool | None = None
    zscore: str | None = None
    forward_passes: int | None = None    # 2: the notebook's step (whole network, then V1 → IT again for the head)
    precision: str | None = None         # the student's on CUDA; an argmax teacher always runs in fp32
    select_on: str = 'validation'        # validation: held-out training images; test: the authors' choice
    validation_fraction: float = 0.1
    image_size: int = 224
    compile: str = 'none'                # a recorded setting: reduce-overhead drops a short last batch

    def resolved(self) -> 'Recipe':
        """A copy with the named recipe's values and the defaults in place of None."""
        if self.recipe not in RECIPES:
            raise RealnetError(f'unknown `recipe` {self.recipe!r}; choose {_alternatives(RECIPES)}')
        named = {k: v for k, v in RECIPES[self.recipe].items() if getattr(self, k) is None}
        return dataclasses.replace(self, **named, window=tuple(self.window or EEG_WINDOW))

    def check(self):
        """Refuses a bad setting in one line, before any data is read."""
        recipe = self.resolved()
        for name, allowed in (('classification', CLASSIFICATION_LOSSES), ('zscore', ZSCORES),
                              ('select_on', SELECT_ON), ('compile', COMPILE_MODES),
                              ('forward_passes', FORWARD_PASSES), ('precision', PRECISIONS)):
            value = getattr(recipe, name)  # True == 1: a bool is no number of passes
            if isinstance(value, bool) or value not in allowed:
                raise RealnetError(f'unknown `{name}` {value!r}; choose {_alternatives(allowed)}')
        for name, bound in (('epochs', None), ('batch_size', bounds.BATCH_SIZE), ('image_size', bounds.IMAGE_SIZE),
                            ('pool', bounds.POOL)):
            check_count(name, getattr(recipe, name), optional=name == 'pool', bound=bound)
        for name in ('correlation_gradient', 'drop_nan_voxels'):
            if not isinstance(getattr(recipe, name), bool):
                raise RealnetError(f'`{name}` must be True or False, got {getattr(recipe, name)!r}')
        _check_numbers(recipe)

    def record(self) -> dict:
        """The resolved settings as a checkpoint records them (paths as text, tuples as lists)."""
        return {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v)
                for k, v in dataclasses.asdict(self.resolved()).items()}


def _check_numbers(recipe: Recipe):
    if not (_number(recipe.lr) and recipe.lr > 0):
        raise RealnetError(f'`lr` must be a positive number, got {recipe.lr}')
    if not (_number(recipe.beta) and recipe.beta >= 0):
        raise RealnetError(f'`beta` must be a number of at least 0, got {recipe.beta}')
    start, end = recipe.window
    if not (_number(start) and _number(end) and start < end):
        raise RealnetError(f'`window` START END must be numbers with START < END, got {start} {end}')
    if not (_whole(recipe.seed) and 0 <= recipe.seed < 2 ** 63):
        raise RealnetError(f'`seed` must be a whole number from 0 to 2**63 - 1, got {recipe.seed}')
    if not (_number(recipe.validation_fraction) and 0 < recipe.validation_fraction < 1):
        raise RealnetError(f'`validation_fraction` must lie between 0 and 1, got {recipe.validation_fraction}')


def check_count(name: str, value, optional: bool = False, bound: int | None = None):
    """``value`` is a whole number of at least 1 (or None, if ``optional``) and at most ``bound``
    (one of bounds.py's: a size that would be allocated)."""
    if optional and value is None:
        return
    if not (_whole(value) and value >= 1):
        raise RealnetError(f'`{name}` must be a whole number of at least 1, got {value}')
    if bound is not None:
        bounds.check_at_most(value, bound, f'`{name}`')


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _alternatives(names) -> str:
    """'a, b or c'."""
    names = [str(name) for name in names]
    return ' or '.join([', '.join(names[:-1]), names[-1]] if len(names) > 1 else names)
