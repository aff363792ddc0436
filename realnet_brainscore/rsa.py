"""Representational similarity: RDMs, their comparison and noise ceilings.

RDMs are condensed upper triangles (pairs in ``numpy.triu_indices(n, 1)`` order). Comparisons and
noise ceilings go through rsatoolbox; only the EEG RDMs are computed here, batched over time points,
because rsatoolbox works one RDM at a time (and has no pairwise-decoding RDM: that one is
``decoding.decoding_rdms``). The cluster-based permutation test of time courses is
``statistics.cluster_test``.

What the paper used (docs/faithfulness.md#model-rdms-comparison-and-statistics): model RDMs
1 − Pearson r over the flattened layer outputs (``model_rdm``); EEG RDMs by pairwise decoding (``eeg_rdms(method='decoding')``); Spearman ρ
between them per time point (``spearman``); NeuroRA's cluster-based permutation test.
"""
import numpy as np
from rsatoolbox.data import Dataset
from rsatoolbox.rdm import RDMs, calc_rdm, compare
from scipy.stats import rankdata

from .errors import RealnetError


def model_rdm(features: np.ndarray) -> np.ndarray:
    """1 − Pearson r between the images' flattened features (images × features) -> pairs."""
    features = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    return calc_rdm(Dataset(features), method='correlation').dissimilarities[0]


EEG_RDM_METHODS = ('decoding', 'correlation', 'crossvalidated')  # what eeg_rdms's ``method`` takes


def check_rdm_method(method: str) -> str:
    """``method`` once it is shown to be one of EEG_RDM_METHODS."""
    if method not in EEG_RDM_METHODS:
        raise RealnetError(f"unknown `method` {method!r}: choose {', '.join(EEG_RDM_METHODS)}")
    return method


def eeg_rdms(trials: np.ndarray, method: str = 'decoding', folds: int | None = None, seed: int = 0,
             progress: bool = False) -> np.ndarray:
    """RDMs of ``trials`` (images × repetitions × channels × times) at every time point -> times × pairs.

    'decoding' (the paper's, docs/faithfulness.md#eeg-rdms-by-pairwise-decoding): pairwise linear-SVM
    decoding accuracy on pseudo-trials, cross-validated, smoothed over time — ``decoding.decoding_rdms`` with the authors' settings
    (``seed`` draws its pseudo-trials and folds; ``progress`` shows a bar).
    'correlation': 1 − Pearson r between repetition-averaged channel patterns (fast; not the paper's).
    'crossvalidated': squared Euclidean distance per channel, cross-validated across folds of
    repetitions (``folds`` groups, default one per repetition), so noise adds no bias.
    """
    if method == 'decoding':
        from .decoding import decoding_rdms
        return decoding_rdms(trials, seed=seed, progress=progress)
    trials = np.asarray(trials, dtype=np.float64)
    n_images, n_repetitions, n_channels, _ = trials.shape
    upper = np.triu_indices(n_images, 1)
    if method == 'correlation':
        patterns = trials.mean(axis=1)
        patterns = patterns - patterns.mean(axis=1, keepdims=True)
        patterns /= np.linalg.norm(patterns, axis=1, keepdims=True) + 1e-12
        return 1 - np.einsum('ict,jct->tij', patterns, patterns)[:, upper[0], upper[1]]
    if method == 'crossvalidated':
        folds = folds or n_repetitions
        if not 2 <= folds <= n_repetitions:
            raise ValueError(f'folds must lie between 2 and the {n_repetitions} repetitions')
        means = np.stack([part.mean(axis=1) for part in np.array_split(trials, folds, axis=1)])
        # sum over fold pairs f != g of u_f . u_g = |sum_f u_f|^2 - sum_f |u_f|^2, with u = x_i - x_j
        distance = _squared_distances(means.sum(axis=0)) - sum(_squared_distances(m) for m in means)
        return distance[:, upper[0], upper[1]] / (folds * (folds - 1) * n_channels)
    raise ValueError(f"unknown RDM method {method!r}: choose from {', '.join(EEG_RDM_METHODS)}")


def _squared_distances(patterns):
    """images × channels × times -> times × images × images of |x_i − x_j|²."""
    gram = np.einsum('ict,jct->tij', patterns, patterns)
    norms = np.einsum('tii->ti', gram)
    return norms[:, :, None] + norms[:, None, :] - 2 * gram


def split_half_reliability(trials: np.ndarray) -> float:
    """Spearman–Brown corrected Spearman ρ between the RDMs of odd and even repetitions
    (``trials``: images × repetitions × features): the reliability of the full-data RDM."""
    trials = np.asarray(trials, dtype=np.float64)
    halves = [model_rdm(trials[:, start::2].mean(axis=1)) for start in (0, 1)]
    rho = spearman(halves[0], halves[1][None])[0]
    return 2 * rho / (1 + rho)


def spearman(model: np.ndarray, rdms: np.ndarray) -> np.ndarray:
    """Spearman ρ between one RDM (pairs) and each RDM of ``rdms`` (... × pairs) -> (...)."""
    rdms = np.asarray(rdms)
    flat = rdms.reshape(-1, rdms.shape[-1])
    return compare(RDMs(model[None]), RDMs(flat), method='spearman')[0].reshape(rdms.shape[:-1])


def noise_ceiling(rdms: np.ndarray) -> np.ndarray:
    """Leave-one-subject-out bounds per time point: ``rdms`` subjects × times × pairs -> 2 × times.

    Row 0, lower bound: mean Spearman ρ of each subject's RDM with the average of the others' rank-
    transformed RDMs; row 1, upper bound: with the average of all (Nili et al. 2014). This is
    rsatoolbox's ``boot_noise_ceiling(method='spearman')`` (the tests check equality), computed for
    all time points at once: rsatoolbox's loop takes about 20 s for 10 subjects × 100 time points.
    """
    ranks = rankdata(np.asarray(rdms, dtype=np.float64), axis=-1)
    n_subjects = len(ranks)
    total = ranks.sum(axis=0)
    upper = _pearson(rankdata(total, axis=-1)[None], ranks).mean(axis=0)
    others = (total[None] - ranks) / (n_subjects - 1)
    lower = _pearson(rankdata(others, axis=-1), ranks).mean(axis=0)
    return np.stack([lower, upper])


def _pearson(a, b):
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    return (a * b).sum(-1) / np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
