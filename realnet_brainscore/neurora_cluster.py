"""The cluster-based permutation test of the authors' toolbox, NeuroRA 1.1.6.12 (neurora/stuff.py:
``clusterbased_permutation_1d_2sided``, the one the authors' RSA.ipynb imports, and its one-sided,
one-sample sibling ``clusterbased_permutation_1d_1samp_1sided``), written anew with numpy: the same
statistic, clusters, null and decision, vectorised over permutations and seeded.

The procedure as NeuroRA runs it (the differences from mne's test are its null and its p):

1. At each time point, the paired t of ``a − b`` (``b``: a second condition, or a level such as
   chance); a point is supra-threshold where p < alpha (two-sided; 'greater' for ``tail=1``) with t
   of that sign.
2. Clusters: runs of at least two supra-threshold points of one sign (a lone point is never one);
   a cluster's mass is the sum of its t.
3. The null, for each sign on its own: a permutation shuffles, independently at every time point of
   that sign's clusters, the 2n pooled values of ``a`` and ``b`` at that point (a level: n copies of
   it), splits them into halves and takes their paired t; a cluster's null mass sums its points, and
   the permutation's value is the largest over that sign's clusters (the largest for negative clusters
   too, as NeuroRA takes it). mne instead flips the sign of whole difference time courses.
4. A cluster is significant when its mass is strictly beyond (above; below for negative clusters)
   at least ``n_permutations · (1 − alpha)`` of the null values; NeuroRA returns that decision only,
   so the p reported here is the fraction of null values it is not beyond (ties count against it,
   and there is no +1 correction).
"""
import numpy as np

CLUSTER_TESTS = ('mne', 'neurora')  # statistics.cluster_test's methods: mne's null, or this module's
NEURORA_PERMUTATIONS = 1000  # NeuroRA's `iter` default, which the authors kept
MIN_POINTS = 2               # NeuroRA's `n_threshold` default: a cluster has at least two points
_CHUNK_VALUES = 4_000_000    # shuffled values held at once (32 MB of float64)


def neurora_cluster_test(a, b, n_permutations: int = NEURORA_PERMUTATIONS, alpha: float = 0.05, seed: int = 0,
                         tail: int = 0) -> dict:
    """NeuroRA's cluster test of subjects × times ``a`` against ``b`` (the same shape, or a level),
    two-sided (``tail=0``, clusterbased_permutation_1d_2sided) or a > b (``tail=1``,
    clusterbased_permutation_1d_1samp_1sided when ``b`` is a level).

    Returns ``significant`` (a boolean per time point), ``clusters`` (index arrays, in time order),
    their ``p_values`` and ``signs`` (+1: a above b)."""
    from scipy.stats import ttest_rel
    if tail not in (0, 1):
        raise ValueError(f'tail must be 0 (two-sided) or 1 (a > b), not {tail!r}')
    a = np.asarray(a, dtype=np.float64)
    b = np.broadcast_to(np.asarray(b, dtype=np.float64), a.shape)
    with np.errstate(divide='ignore', invalid='ignore'):  # a constant difference: t is ±inf or nan, as in scipy
        t, p = ttest_rel(a, b, axis=0, alternative='two-sided' if tail == 0 else 'greater')
    rng = np.random.default_rng(seed)
    found = []
    for sign in (1, -1)[:2 - tail]:  # NeuroRA tests the positive side first, each with its own permutations
        runs = runs_of((p < alpha) & (sign * t > 0))
        if runs:
            null = _null_maxima(a, b, runs, n_permutations, rng)
            for run in runs:
                beyond = np.count_nonzero(sign * t[run].sum() > sign * null)  # nan (never beyond) counts against
                found.append((run, sign, 1 - beyond / n_permutations, beyond >= n_permutations * (1 - alpha)))
    found.sort(key=lambda cluster: cluster[0][0])
    significant = np.zeros(a.shape[1], dtype=bool)
    for run, _, _, kept in found:
        significant[run] = kept
    return {'significant': significant, 'clusters': [c[0] for c in found], 'p_values': np.array([c[2] for c in found]),
            'signs': np.array([c[1] for c in found], dtype=int)}


def runs_of(mask: np.ndarray, min_points: int = MIN_POINTS) -> list[np.ndarray]:
    """The indices of each run of True in ``mask`` at least ``min_points`` long."""
    edges = np.diff(np.concatenate([[0], np.asarray(mask, dtype=np.int8), [0]]))
    return [np.arange(start, stop) for start, stop in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1))
            if stop - start >= min_points]


def _null_maxima(a: np.ndarray, b: np.ndarray, runs: list[np.ndarray], n_permutations: int,
                 rng: np.random.Generator) -> np.ndarray:
    """Per permutation, the largest null mass over ``runs`` (see the module's step 3)."""
    points = np.concatenate(runs)
    starts = np.cumsum([0] + [len(run) for run in runs[:-1]])
    pooled = np.concatenate([a[:, points], b[:, points]])  # 2n × cluster points
    n = len(a)
    chunk = max(1, _CHUNK_VALUES // pooled.size)
    maxima = []
    for done in range(0, n_permutations, chunk):
        size = min(chunk, n_permutations - done)
        # each (permutation, time point) column shuffled on its own, as NeuroRA draws one permutation per point
        shuffled = rng.permuted(np.broadcast_to(pooled, (size, *pooled.shape)), axis=1)
        difference = shuffled[:, :n] - shuffled[:, n:]
        with np.errstate(divide='ignore', invalid='ignore'):
            t = difference.mean(axis=1) / (difference.std(axis=1, ddof=1) / np.sqrt(n))
        maxima.append(np.add.reduceat(t, starts, axis=1).max(axis=1))  # nan propagates, as np.max does in NeuroRA
    return np.concatenate(maxima)
