"""A bootstrap over subjects and images together: the score's 95 % interval.

Semantics of rsatoolbox 0.2.0's ``eval_dual_bootstrap`` (its 'both' samples, no cross-validation):
each sample draws the subjects (RDMs) with replacement and, independently, the images (conditions)
with replacement; the model RDM and every drawn subject's RDM are restricted to the drawn images,
where a pair of an image with its own copy is dropped (its dissimilarity is 0 by construction, so
rsatoolbox marks it NaN) and a pair of two drawn images appears once per drawn copy of each; the
sample's value is the mean over the drawn subjects of Spearman ρ (ties averaged). Beyond the paper,
which generalises over subjects only.

Fast because nothing is re-sorted: a drawn image set only repeats or leaves out pairs, so a pair's
rank among the drawn pairs is the summed weight (copies) of the pairs below it, plus half its tie
group's weight; each RDM is sorted once. Each row's sorted pairs are then walked once per chunk of
64 samples, not once per sample, with every sample's weights, running sums and model ranks side by
side in memory so that the inner loops over samples run as vector instructions. Each sample's sums
run in the order a lone sample's walk would run them; the model's ranks, half-integers, are stored
exactly in float32 (below 2²⁴ pairs), and weights, ranks and their sums are whole or half numbers
that float64 holds exactly at these sizes, so the order of a tie group's pairs changes no value.
``tests/test_bootstrap_faithful.py`` checks every sample's value against rsatoolbox's on the same
draws.

The interval is of the raw score (mean ρ; for the EEG the window mean over time points), as
rsatoolbox's evaluations are; the benchmarks divide it by the full-data ceiling, held fixed, to give
the interval of the ceiling-normalised score.
"""
import numpy as np
from numba import njit, prange

from .errors import RealnetError

SAMPLES = 1000   # bootstrap samples by default
LEVEL = 0.95     # the interval's coverage
SEED = 0
CHUNK = 64   # samples walked together: the vector width of the kernel's inner loops
MOST_SAMPLES = 100_000  # above this a typo, not a setting: 10⁵ samples of the EEG take minutes


def dual_bootstrap(model: np.ndarray, rdms: np.ndarray, samples: int = SAMPLES, seed: int = SEED,
                   draws=None) -> np.ndarray:
    """Bootstrap values of the mean Spearman ρ between ``model`` (pairs, condensed upper triangle of
    n images) and ``rdms`` (subjects × [times ×] pairs) -> samples [× times]: per sample, subjects and
    images drawn with replacement (``draws``: a list of (subject indices, image indices) instead).
    A sample that keeps fewer than 3 distinct images is NaN (rsatoolbox's rule)."""
    model = np.asarray(model, dtype=np.float64)
    rdms = np.asarray(rdms)
    n_subjects, n_pairs = len(rdms), rdms.shape[-1]
    n_images = _images(n_pairs)
    if draws is None:
        rng = np.random.default_rng(seed)
        draws = [(rng.integers(n_subjects, size=n_subjects), rng.integers(n_images, size=n_images))
                 for _ in range(samples)]
    copies = np.stack([np.bincount(images, minlength=n_images) for _, images in draws]).astype(np.float64)
    weights = np.stack([np.bincount(subjects, minlength=n_subjects) / len(subjects) for subjects, _ in draws])
    ranked = _SortedRDMs(np.concatenate([model[None], rdms.reshape(-1, n_pairs)]))
    rho = ranked.spearman(copies).reshape(len(draws), n_subjects, -1)
    values = np.einsum('bs,bst->bt', weights, rho)
    values[(copies > 0).sum(axis=1) < 3] = np.nan
    return values.reshape(len(draws), *rdms.shape[1:-1])


def percentile_interval(values: np.ndarray, level: float = LEVEL) -> list:
    """The central ``level`` percentile interval [low, high] of bootstrap ``values`` (NaN samples left out)."""
    tail = (1 - level) / 2 * 100
    return [float(v) for v in np.nanpercentile(values, [tail, 100 - tail])]


def score_interval(model: np.ndarray, rdms: np.ndarray, ceiling: float, window=None,
                   samples: int = SAMPLES, seed: int = SEED) -> dict:
    """The Score attributes of the 95 % interval: ``raw_interval`` of the raw score (mean ρ over
    subjects, and over the time points where ``window`` (a mask over ``rdms``' times) is True),
    ``interval`` of the score (raw ÷ ``ceiling``, the full-data ceiling held fixed) and ``interval_method``."""
    if window is not None:
        rdms = np.asarray(rdms)[:, np.asarray(window)]
    values = dual_bootstrap(model, rdms, samples, seed)
    raw = values.reshape(len(values), -1).mean(axis=1)
    low, high = percentile_interval(raw)
    return {'raw_interval': [low, high], 'interval': [low / ceiling, high / ceiling],
            'interval_method': f'{LEVEL:.0%} percentile interval of a bootstrap over subjects and images '
                               f'({samples} samples, seed {seed}; ceiling held at its full-data value)'}


class _SortedRDMs:
    """RDMs (rows × pairs) sorted once, so that the Spearman ρ of the first with each on any drawn
    images costs one pass over the sorted pairs, not a sort."""

    def __init__(self, rdms: np.ndarray):
        # any order within a tie group will do: its pairs share a rank, and their sums are exact
        self.order = np.argsort(rdms, axis=1).astype(np.int32)
        self.ordered = np.take_along_axis(rdms, self.order, axis=1)
        n_images = _images(rdms.shape[1])
        kind = np.uint8 if n_images < 256 else np.int32  # the images of each sorted pair, read in order
        self.images = [upper[self.order].astype(kind) for upper in np.triu_indices(n_images, 1)]

    def spearman(self, copies: np.ndarray) -> np.ndarray:
        """Spearman ρ of row 0 with every other row on the pairs of each sample's drawn images
        (``copies``: samples × images, how often each image was drawn; pair (i, j) counts
        copies[i] × copies[j] times) -> samples × other rows."""
        # the model's centred ranks are half-integers of at most half the pairs: float32 holds them
        # exactly up to 2²⁴ pairs, in half the memory (and cache) of float64
        kind = np.float32 if self.order.shape[1] < 2 ** 24 else np.float64
        return _spearman_rows(self.order, self.ordered, self.images[0], self.images[1],
                              np.ascontiguousarray(copies, dtype=np.float64), np.empty(0, kind))


@njit(cache=True, inline='always', error_model='numpy')
def _model_walk(order, ordered, first, second, weights, centre, out):
    """One pass over the model row's sorted pairs for a chunk of samples (``weights``: images ×
    CHUNK copies): a tie group's pairs share the rank halfway through the group's summed weight.
    Fills ``out`` (pairs × CHUNK) with the centred ranks; returns their weighted sums of squares."""
    n = len(order)
    below, spread, group = np.zeros(CHUNK), np.zeros(CHUNK), np.empty(CHUNK)
    start = 0
    while start < n:
        stop = start + 1
        while stop < n and ordered[stop] == ordered[start]:
            stop += 1
        group[:] = 0.0  # a tie group needs its weight before its rank: two passes over its pairs
        for k in range(start, stop):
            i, j = first[k], second[k]
            for s in range(CHUNK):  # over samples, branch-free and contiguous: vectorised
                group[s] += weights[i, s] * weights[j, s]
        for s in range(CHUNK):
            rank = below[s] + (group[s] + 1) / 2 - centre[s]
            spread[s] += rank * rank * group[s]
            below[s] += group[s]
            group[s] = rank
        for k in range(start, stop):
            pair = order[k]
            for s in range(CHUNK):
                out[pair, s] = group[s]
        start = stop
    return spread


@njit(cache=True, inline='always', error_model='numpy')
def _row_walk(order, ordered, first, second, weights, centre, model, covariance, variance):
    """The same pass over another row's sorted pairs, each pair's weight times the model's rank
    summed per tie group: sets ``covariance`` and ``variance`` (CHUNK each) to the weighted sums of
    rank × model rank and of rank²."""
    n = len(order)
    below, group, with_model = np.zeros(CHUNK), np.empty(CHUNK), np.empty(CHUNK)
    covariance[:] = 0.0
    variance[:] = 0.0
    start = 0
    while start < n:
        stop = start + 1
        while stop < n and ordered[stop] == ordered[start]:
            stop += 1
        if stop == start + 1:  # a pair without ties (all of them in continuous RDMs): no group sums to keep
            i, j, pair = first[start], second[start], order[start]
            for s in range(CHUNK):
                weight = weights[i, s] * weights[j, s]
                rank = below[s] + (weight + 1) / 2 - centre[s]
                covariance[s] += rank * (weight * model[pair, s])
                variance[s] += rank * rank * weight
                below[s] += weight
            start = stop
            continue
        group[:] = 0.0
        with_model[:] = 0.0
        for k in range(start, stop):
            i, j, pair = first[k], second[k], order[k]
            for s in range(CHUNK):
                weight = weights[i, s] * weights[j, s]
                group[s] += weight
                with_model[s] += weight * model[pair, s]
        for s in range(CHUNK):
            rank = below[s] + (group[s] + 1) / 2 - centre[s]
            covariance[s] += rank * with_model[s]
            variance[s] += rank * rank * group[s]
            below[s] += group[s]
        start = stop


@njit(cache=True, parallel=True, error_model='numpy')
def _spearman_rows(order, ordered, first, second, copies, kind):
    n_rows, n_pairs = order.shape
    n_samples, n_images = copies.shape
    n_chunks = (n_samples + CHUNK - 1) // CHUNK
    rho = np.empty((n_chunks * CHUNK, n_rows - 1))
    for chunk in prange(n_chunks):  # in parallel over chunks of samples
        weights = np.zeros((n_images, CHUNK))  # images × samples: a pair's weights are two contiguous rows
        for s in range(min(CHUNK, n_samples - chunk * CHUNK)):  # a short last chunk's spare samples weigh 0
            weights[:, s] = copies[chunk * CHUNK + s]
        centre = np.empty(CHUNK)
        for s in range(CHUNK):
            total = (weights[:, s].sum() ** 2 - (weights[:, s] ** 2).sum()) / 2  # pairs of distinct drawn images
            centre[s] = (total + 1) / 2  # weighted ranks 1 … W have mean (W + 1) / 2
        model = np.empty((n_pairs, CHUNK), kind.dtype)  # row 0's centred ranks per sample, shared by all rows
        spread = _model_walk(order[0], ordered[0], first[0], second[0], weights, centre, model)
        covariance, variance = np.empty(CHUNK), np.empty(CHUNK)
        for row in range(1, n_rows):
            _row_walk(order[row], ordered[row], first[row], second[row], weights, centre, model, covariance,
                      variance)
            rho[chunk * CHUNK:(chunk + 1) * CHUNK, row - 1] = covariance / np.sqrt(spread * variance)
    return rho[:n_samples]


def _images(n_pairs: int) -> int:
    n_images = int(round((1 + np.sqrt(1 + 8 * n_pairs)) / 2))
    if n_images * (n_images - 1) // 2 != n_pairs:
        raise ValueError(f'{n_pairs} pairs are not the upper triangle of an RDM')
    return n_images


def check_samples(samples) -> int:
    """``samples`` once shown to be a count of bootstrap samples (0: no interval) up to MOST_SAMPLES."""
    if isinstance(samples, bool) or not isinstance(samples, (int, np.integer)) or not 0 <= samples <= MOST_SAMPLES:
        raise RealnetError(f'`bootstrap` is {str(samples)[:40]!r}: give a number of samples from 0 (no interval) '
                           f'to {MOST_SAMPLES}')
    return int(samples)

