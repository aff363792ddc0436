"""Pairwise-decoding EEG RDMs: the authors' measurement, exactly and fast.

The paper's EEG RDMs (docs/faithfulness.md#eeg-rdms-by-pairwise-decoding: ZitongLu1996/RWsize
``eeg_analysis/EEGRDMs_decoding.py`` calling NeuroRA 1.1.6.12 ``tbyt_decoding_kfold``) hold, for
every pair of test images and every time point, how well a linear SVM tells the two images apart:

1. each repeat shuffles each image's trials and averages consecutive groups of ``navg`` (5) into
   pseudo-trials (80 trials -> 16);
2. at each time point, a stratified, shuffled ``folds``-fold (4) cross-validation trains
   ``SVC(kernel='linear', C=1, tol=1e-4)`` on the channel patterns and scores its test accuracy;
3. accuracy is averaged over folds and ``repeats`` (5), then smoothed over time with a centred
   ``smooth``-point (5) moving average, fewer points at the edges (NeuroRA ``smooth_1d``).

Why not NeuroRA itself: it fits 19,900 pairs × 100 times × 4 folds × 5 repeats = 39.8 million SVMs
per subject one by one, about 59 hours. Here each SVM is solved by libsvm's algorithm (SMO with
second-order working-set selection, Fan, Chen & Lin 2005; libsvm's stopping rule and intercept),
compiled with numba and run in parallel over image pairs, with one shortcut: once the set of free
support vectors stops changing, their exact values are solved for directly. The tests check its
predictions against scikit-learn's ``SVC`` and its RDMs against NeuroRA. Random draws come from a
counter-based generator keyed by (seed, pair), so results do not depend on the number of threads.
"""
import contextlib

import numpy as np
from numba import njit, prange

NAVG, FOLDS, REPEATS, SMOOTH = 5, 4, 5, 5  # the authors' settings (EEGRDMs_decoding.py)
C, TOL = 1.0, 1e-4                         # SVC(kernel='linear', tol=1e-4): C is scikit-learn's default
_TAU = 1e-12                               # libsvm's floor for a non-positive curvature
SETTLE_AFTER = 6                           # SMO steps without a bound change before settling is tried
PAIRS_PER_CHUNK = 256                      # progress granularity; each chunk runs in parallel
VERSION = 1                                # of this computation: part of the cache key
SECONDS_PER_SVM = 12e-6                    # measured per core on a 2-core AMD EPYC (timing/decoding_rdms.py): estimates


def decoding_rdms(trials: np.ndarray, seed: int = 0, navg: int = NAVG, folds: int = FOLDS, repeats: int = REPEATS,
                  smooth: int = SMOOTH, progress: bool = False, bar=None) -> np.ndarray:
    """``trials`` images × trials × channels × times -> times × pairs of decoding accuracy
    (pairs in ``numpy.triu_indices(images, 1)`` order; 0.5 = indistinguishable). ``bar``: a tqdm
    bar to advance by pairs (else one is shown with ``progress``)."""
    trials = np.ascontiguousarray(trials, dtype=np.float64)
    n_images = len(trials)
    check_trials(trials.shape[1], navg, folds, repeats)
    first, second = np.triu_indices(n_images, 1)
    accuracy = np.zeros((len(first), trials.shape[3]))
    from tqdm.auto import tqdm
    with contextlib.nullcontext(bar) if bar is not None else tqdm(
            total=len(first), desc='decoding RDM pairs', unit='pair', disable=not progress, leave=False) as bar:
        for start in range(0, len(first), PAIRS_PER_CHUNK):
            chunk = slice(start, start + PAIRS_PER_CHUNK)
            _pair_accuracies(trials, first[chunk], second[chunk], np.uint64(seed), np.int64(start), navg, folds,
                             repeats, accuracy[chunk])
            bar.update(len(first[chunk]))
    return smooth_time(accuracy, smooth).T


def check_trials(n_trials: int, navg: int, folds: int, repeats: int):
    pseudo = n_trials // navg if navg >= 1 else 0
    if navg < 1 or folds < 2 or repeats < 1 or pseudo < folds:
        raise ValueError(f'{n_trials} trials make {pseudo} pseudo-trials of {navg}: too few for {folds} folds')


def smooth_time(values: np.ndarray, n: int = SMOOTH) -> np.ndarray:
    """Centred moving average over the last axis: the mean of t − n//2 … t + n − n//2 − 1, clipped at
    the edges. Each window is summed in order, as NeuroRA's ``np.average`` sums it (the same bits),
    so that means of accuracies stay within [0, 1]; differences of a running sum can exceed 1 by a
    rounding error, and the RDM cache refuses such values."""
    if n <= 1:
        return values
    before, after, length = n // 2, n - n // 2, values.shape[-1]
    t = np.arange(length)
    total = np.zeros(values.shape[:-1] + (length,))
    for offset in range(-before, after):
        inside = (t + offset >= 0) & (t + offset < length)
        total[..., inside] += values[..., t[inside] + offset]
    return total / (np.minimum(t + after, length) - np.maximum(t - before, 0))


def svm_decisions(train: np.ndarray, labels: np.ndarray, test: np.ndarray) -> np.ndarray:
    """Decision values of a linear C-SVM (C = 1, tol 1e-4) trained on ``train`` (samples × features)
    with ``labels`` (0/1) at ``test``: positive means class 0, as libsvm orders scikit-learn's classes."""
    train, test = np.asarray(train, dtype=np.float64), np.asarray(test, dtype=np.float64)
    sign = np.where(np.asarray(labels) == 0, 1.0, -1.0)
    samples = np.concatenate([train, test])
    gram = samples @ samples.T
    n = len(train)
    beta, rho = _smo(np.ascontiguousarray(gram[:n, :n]), sign, C, TOL)
    return gram[n:, :n] @ beta - rho


@njit(cache=True)
def _smo(gram, y, c, tol):
    """libsvm's C-SVC dual solver (WSS2, no shrinking) on a precomputed kernel -> (beta, rho), where
    beta = y·alpha and the decision function is gram[x, :] @ beta − rho.

    Written in beta, with F_t = y_t − (gram @ beta)_t (libsvm's −y·G): a step moves beta_i up and
    beta_j down by the same amount, within beta_t's box ([0, c] for y = +1, [−c, 0] for y = −1).
    After SETTLE_AFTER steps that moved no beta onto or off a bound, ``_settle_free`` tries the
    exact optimum for that split; either way the answer meets libsvm's stopping rule.
    """
    n = len(y)
    return _smo_in(gram, y, c, tol, np.empty((8, n)), np.empty(n, dtype=np.int64), np.empty((n + 1, n + 2)))


@njit(cache=True)
def _smo_in(gram, y, c, tol, scratch, free, system):
    """``_smo`` in preallocated work arrays (scratch: 8 × n floats; free: n ints; system: (n+1) × (n+2)):
    the pipeline solves 40 million of these, and allocating costs as much as a tenth of a solve.
    The returned beta is a row of ``scratch``."""
    n = len(y)
    low, high, beta, diagonal, errors, rising, gains, change = (
        scratch[0, :n], scratch[1, :n], scratch[2, :n], scratch[3, :n], scratch[4, :n], scratch[5, :n],
        scratch[6, :n], scratch[7, :n])
    for t in range(n):
        low[t], high[t] = (0.0, c) if y[t] > 0 else (-c, 0.0)
        beta[t], diagonal[t], errors[t] = 0.0, gram[t, t], y[t]
        rising[t] = errors[t] if y[t] > 0 else -np.inf  # F of the betas that may rise
    steady = 0  # SMO steps since a beta last reached or left a bound
    for _ in range(max(10_000_000, 100 * n)):
        i, j = _working_set(gram, diagonal, beta, low, errors, rising, gains, tol)
        if j < 0:
            break
        if steady == SETTLE_AFTER and _settle_free(gram, beta, low, high, errors, tol, free, system, change):
            break
        was_free = (low[i] < beta[i] < high[i], low[j] < beta[j] < high[j])
        curvature = diagonal[i] + diagonal[j] - 2.0 * gram[i, j]
        step = (errors[i] - errors[j]) / (curvature if curvature > 0 else _TAU)
        step = min(step, high[i] - beta[i], beta[j] - low[j])
        # land exactly on a bound when clipped, as libsvm assigns it
        beta[i] = high[i] if step == high[i] - beta[i] else beta[i] + step
        beta[j] = low[j] if step == beta[j] - low[j] else beta[j] - step
        steady = steady + 1 if was_free == (low[i] < beta[i] < high[i], low[j] < beta[j] < high[j]) else 0
        for k in range(n):
            errors[k] -= step * (gram[i, k] - gram[j, k])
            rising[k] = errors[k] if beta[k] < high[k] else -np.inf
    return beta, _rho(beta, low, high, errors)


@njit(cache=True)
def _settle_free(gram, beta, low, high, errors, tol, free, system, change):
    """Jump to the optimum for the current split into bounded and free betas: the free ones solve
    F_t = −rho at every free t with the betas still summing to 0, one small linear system. Taken,
    in place, only if the free betas stay inside their box and libsvm's stopping rule then holds;
    it saves SMO the many small steps with which it creeps towards the same point (≈ 135 -> 50)."""
    m = 0
    for t in range(len(beta)):
        if low[t] < beta[t] < high[t]:
            free[m] = t
            m += 1
    if m == 0:
        return False
    # Unknowns: the change of each free beta, and rho. Row a: F after the change equals −rho;
    # last row: the changes sum to 0.
    for a in range(m):
        for b in range(m):
            system[a, b] = gram[free[a], free[b]]
        system[a, m] = -1.0
        system[a, m + 1] = errors[free[a]]
        system[m, a] = 1.0
    system[m, m] = system[m, m + 1] = 0.0
    if not _solve_in_place(system, m + 1):
        return False
    for a in range(m):
        change[a] = system[a, m + 1]
        if not low[free[a]] < beta[free[a]] + change[a] < high[free[a]]:
            return False
    top, bottom = -np.inf, np.inf
    for t in range(len(beta)):
        settled = errors[t]
        for a in range(m):
            settled -= gram[t, free[a]] * change[a]
        if beta[t] < high[t]:
            top = max(top, settled)
        if beta[t] > low[t]:
            bottom = min(bottom, settled)
    if top - bottom >= tol:
        return False
    for a in range(m):
        beta[free[a]] += change[a]
    for t in range(len(beta)):
        for a in range(m):
            errors[t] -= gram[t, free[a]] * change[a]
    return True


@njit(cache=True)
def _solve_in_place(augmented, size):
    """Gaussian elimination with partial pivoting of [A | b], A the first ``size`` rows and columns,
    b column ``size``; the solution replaces b. False if A is (numerically) singular. (LAPACK via
    numpy.linalg.solve allocates on every call, which costs more than a system this small.)"""
    scale = 0.0
    for row in range(size):
        for column in range(size):
            scale = max(scale, abs(augmented[row, column]))
    for column in range(size):
        pivot = column
        for row in range(column + 1, size):
            if abs(augmented[row, column]) > abs(augmented[pivot, column]):
                pivot = row
        if abs(augmented[pivot, column]) <= 1e-12 * scale:
            return False
        if pivot != column:
            for k in range(size + 1):
                augmented[column, k], augmented[pivot, k] = augmented[pivot, k], augmented[column, k]
        for row in range(column + 1, size):
            factor = augmented[row, column] / augmented[column, column]
            for k in range(column, size + 1):
                augmented[row, k] -= factor * augmented[column, k]
    for row in range(size - 1, -1, -1):
        total = augmented[row, size]
        for k in range(row + 1, size):
            total -= augmented[row, k] * augmented[k, size]
        augmented[row, size] = total / augmented[row, row]
    return True


@njit(cache=True, inline='always')
def _working_set(gram, diagonal, beta, low, errors, rising, gains, tol):
    """libsvm's second-order working-set selection (WSS2): i, the largest F among the betas that
    may rise (``rising``, −inf elsewhere); j, the beta that may fall with the largest gain
    (F_i − F_j)² / curvature; j = -1 once the largest violation is below ``tol``. Both take the
    last index on ties, as libsvm's scans do. No data-dependent branches: on 24 samples,
    mispredictions would cost more than the arithmetic."""
    i, top = _last_argmax(rising)
    if i < 0:
        return -1, -1
    for t in range(len(beta)):
        difference = top - errors[t]
        curvature = diagonal[i] + diagonal[t] - 2.0 * gram[i, t]
        gain = difference * difference / (curvature if curvature > 0 else _TAU)
        gains[t] = gain if (difference > 0 and beta[t] > low[t]) else -np.inf
    j, _ = _last_argmax(gains)
    return i, (-1 if top - _smallest_falling(errors, beta, low) < tol else j)


@njit(cache=True, fastmath={'nnan', 'reassoc'})
def _smallest_falling(errors, beta, low):
    """min F over the betas that may fall; a reduction of its own so that the loop above vectorises
    (min is exact in any order, and no value here is NaN)."""
    bottom = np.inf
    for t in range(len(beta)):
        bottom = min(bottom, errors[t] if beta[t] > low[t] else np.inf)
    return bottom


@njit(cache=True, inline='always')
def _last_argmax(values):
    """(index, value) of the largest of ``values`` above −inf, the last index on ties; (-1, −inf)
    if none. Four interleaved lanes shorten the compare-and-select dependency chain fourfold."""
    n = len(values)
    top0 = top1 = top2 = top3 = -np.inf
    at0 = at1 = at2 = at3 = -1
    k = 0
    while k + 4 <= n:
        better = values[k] >= top0
        top0, at0 = (values[k] if better else top0), (k if better else at0)
        better = values[k+1] >= top1
        top1, at1 = (values[k+1] if better else top1), (k+1 if better else at1)
        better = values[k+2] >= top2
        top2, at2 = (values[k+2] if better else top2), (k+2 if better else at2)
        better = values[k+3] >= top3
        top3, at3 = (values[k+3] if better else top3), (k+3 if better else at3)
        k += 4
    for k in range(k, n):  # the tail holds the largest indices: >= keeps them last
        better = values[k] >= top0
        top0, at0 = (values[k] if better else top0), (k if better else at0)
    top, at = top0, at0
    for lane_top, lane_at in ((top1, at1), (top2, at2), (top3, at3)):
        if lane_top > top or (lane_top == top and lane_at > at):
            top, at = lane_top, lane_at
    return (at, top) if top > -np.inf else (-1, top)


@njit(cache=True)
def _rho(beta, low, high, errors):
    """libsvm's intercept: the mean of y − f over free vectors, else the middle of the feasible range."""
    upper, lower, total, free = np.inf, -np.inf, 0.0, 0
    for t in range(len(beta)):
        if beta[t] >= high[t]:
            lower = max(lower, -errors[t])
        elif beta[t] <= low[t]:
            upper = min(upper, -errors[t])
        else:
            free += 1
            total -= errors[t]
    return total / free if free else (upper + lower) / 2


@njit(cache=True)
def _random(state):
    """splitmix64: (next state, a uniform 64-bit integer)."""
    state = state + np.uint64(0x9E3779B97F4A7C15)
    z = state
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return state, z ^ (z >> np.uint64(31))


@njit(cache=True)
def _shuffle(values, state):
    """Fisher–Yates in place; returns the generator's next state."""
    for k in range(len(values) - 1, 0, -1):
        state, draw = _random(state)
        swap = np.int64(draw % np.uint64(k + 1))
        values[k], values[swap] = values[swap], values[k]
    return state


@njit(cache=True)
def _pseudo_trials(trials, image, order, navg, out):
    """out[p, c, t]: the mean of ``navg`` of the image's trials taken in ``order``, p = 0 … len(out) − 1."""
    out[:] = 0.0
    for p in range(len(out)):
        for k in range(navg):
            out[p] += trials[image, order[p * navg + k]]
    out *= 1.0 / navg


@njit(cache=True)
def _fold_correct(gram, y, fold_of, fold, train, test, sub, labels, scratch, free, system):
    """Train on every pseudo-trial outside ``fold``, test inside it: (correct, tested). The other
    arguments are work arrays of at least the pseudo-trials' count."""
    n_train = n_test = 0
    for k in range(len(fold_of)):
        if fold_of[k] == fold:
            test[n_test] = k
            n_test += 1
        else:
            train[n_train] = k
            labels[n_train] = y[k]
            n_train += 1
    kernel = sub[:n_train * n_train].reshape((n_train, n_train))  # contiguous, unlike sub[:n, :n]
    for a in range(n_train):
        for b in range(n_train):
            kernel[a, b] = gram[train[a], train[b]]
    beta, rho = _smo_in(kernel, labels[:n_train], C, TOL, scratch, free, system)
    correct = 0
    for a in range(n_test):
        decision = -rho
        for b in range(n_train):
            decision += beta[b] * gram[test[a], train[b]]
        predicted = 1.0 if decision > 0 else -1.0  # libsvm: a zero decision goes to the second class
        correct += predicted == y[test[a]]
    return correct, n_test


@njit(parallel=True, cache=True)
def _pair_accuracies(trials, first, second, seed, pair_offset, navg, folds, repeats, out):
    """out[p, t]: the fold- and repeat-averaged accuracy of telling image first[p] from second[p]."""
    n_trials, n_channels, n_times = trials.shape[1], trials.shape[2], trials.shape[3]
    pseudo = n_trials // navg
    y = np.concatenate((np.ones(pseudo), -np.ones(pseudo)))
    for p in prange(len(first)):
        state = _random(seed * np.uint64(0x9E3779B97F4A7C15) + np.uint64(pair_offset + p))[1]
        order = np.arange(n_trials)
        position = np.arange(pseudo)
        fold_of = np.empty(2 * pseudo, dtype=np.int64)
        train, test = np.empty(2 * pseudo, dtype=np.int64), np.empty(2 * pseudo, dtype=np.int64)
        sub, labels = np.empty(4 * pseudo * pseudo), np.empty(2 * pseudo)
        scratch, free = np.empty((8, 2 * pseudo)), np.empty(2 * pseudo, dtype=np.int64)
        system = np.empty((2 * pseudo + 1, 2 * pseudo + 2))
        averaged = np.empty((2 * pseudo, n_channels, n_times))
        for _ in range(repeats):
            state = _shuffle(order, state)
            _pseudo_trials(trials, first[p], order, navg, averaged[:pseudo])
            state = _shuffle(order, state)
            _pseudo_trials(trials, second[p], order, navg, averaged[pseudo:])
            patterns = np.ascontiguousarray(averaged.transpose(2, 0, 1))  # times × pseudo-trials × channels
            for t in range(n_times):
                gram = patterns[t] @ patterns[t].T
                for offset in (0, pseudo):  # stratified: each class spread evenly over the folds
                    state = _shuffle(position, state)
                    for k in range(pseudo):
                        fold_of[offset + position[k]] = k % folds
                accuracy = 0.0
                for fold in range(folds):
                    correct, tested = _fold_correct(gram, y, fold_of, fold, train, test, sub, labels, scratch,
                                                    free, system)
                    accuracy += correct / tested
                out[p, t] += accuracy / (folds * repeats)
