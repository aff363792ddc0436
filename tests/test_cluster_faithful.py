"""`cluster_test(method='neurora')` against the authors' own function, NeuroRA 1.1.6.12's
clusterbased_permutation_1d_1samp_1sided and clusterbased_permutation_1d_2sided, on the same planted
data: the same significant time points where the effect is clear, cluster p-values within
Monte-Carlo error where it is weak, little found where there is nothing, and no one-point cluster.

NeuroRA draws from numpy's global generator, prints a progress bar and runs a scipy t-test per
permutation and time point (≈ 0.7 ms each here), so its calls are kept to a few thousand t-tests."""
import contextlib
import io

import numpy as np
import pytest
from scipy.stats import ttest_rel

from realnet_brainscore import cli
from realnet_brainscore.neurora_cluster import runs_of
from realnet_brainscore.statistics import cluster_test

stuff = pytest.importorskip('neurora.stuff')


def neurora(function, *args, seed=0, **kwargs):
    """NeuroRA's result (0/±1 per time point), its progress bar kept off the test's output."""
    np.random.seed(seed)
    with contextlib.redirect_stdout(io.StringIO()):
        return function(*args, **kwargs)


def test_a_clear_effect_gives_neuroras_significant_time_points():
    rng = np.random.default_rng(0)
    level = rng.normal(size=(10, 60))
    level[:, 20:26] += 1.5  # above the level 0 over 6 time points
    theirs = neurora(stuff.clusterbased_permutation_1d_1samp_1sided, level, 0, iter=200)
    ours = cluster_test(level, 0, method='neurora', tail=1, seed=0)
    assert ours['method'] == 'neurora' and set(range(20, 26)) <= set(np.flatnonzero(theirs))
    np.testing.assert_array_equal(ours['significant'], theirs == 1)
    # two conditions, two-sided (the function RSA.ipynb imports): a above b at 10-14, below at 40-43
    # and 50-52 (two negative clusters: NeuroRA's null for them is the larger of their masses)
    rng = np.random.default_rng(0)
    b = rng.normal(size=(10, 60))
    a = b + rng.normal(size=(10, 60))
    a[:, 10:15] += 2.0
    a[:, 40:44] -= 2.0
    a[:, 50:53] -= 1.0
    theirs = neurora(stuff.clusterbased_permutation_1d_2sided, a, b, iter=200)
    ours = cluster_test(a, b, method='neurora', seed=0)
    assert [c.tolist() for c in ours['clusters']] == [list(range(10, 15)), list(range(40, 44)), [50, 51, 52]]
    assert ours['signs'].tolist() == [1, -1, -1]
    signed = np.zeros(60)  # NeuroRA's form: +1 / −1 at significant points of positive / negative clusters
    for cluster, sign in zip(ours['clusters'], ours['signs']):
        signed[cluster] = sign * ours['significant'][cluster]
    np.testing.assert_array_equal(signed, theirs)


def neurora_cluster_p(data: np.ndarray, n_permutations: int, monkeypatch) -> tuple[list, np.ndarray]:
    """NeuroRA's one-sample test of ``data`` against 0, with the p of each cluster that its decision
    rests on (it returns the decision only): its permutation t-tests recorded as it runs them, summed
    per cluster, the largest per permutation, p = the fraction of those the cluster's mass does not
    exceed."""
    recorded = []

    def recording(a, b, **kwargs):
        result = ttest_rel(a, b, **kwargs)
        recorded.append(result[0])
        return result
    monkeypatch.setattr(stuff, 'ttest_rel', recording)  # its threshold uses ttest_1samp: only the null is recorded
    decision = neurora(stuff.clusterbased_permutation_1d_1samp_1sided, data, 0, iter=n_permutations, seed=3)
    t = np.array([stuff.ttest_1samp(data[:, i], 0, alternative='greater') for i in range(data.shape[1])])
    runs = runs_of((t[:, 1] < 0.05) & (t[:, 0] > 0))
    null = np.reshape(recorded, (n_permutations, -1))
    assert null.shape[1] == sum(map(len, runs))
    starts = np.cumsum([0] + [len(run) for run in runs[:-1]])
    maxima = np.add.reduceat(null, starts, axis=1).max(axis=1)
    p = np.array([1 - np.count_nonzero(t[run, 0].sum() > maxima) / n_permutations for run in runs])
    for run, p_run in zip(runs, p):  # its own decision agrees with the p read from its null
        assert (decision[run] == 1).all() == (p_run <= 0.05)
    return runs, p


def test_a_weak_effect_gives_neuroras_cluster_p_within_monte_carlo_error(monkeypatch):
    rng = np.random.default_rng(4)
    data = rng.normal(size=(10, 40))
    data[:, 10:17] += 1.5  # a clear cluster, whose null masses (7 points) dominate the maxima
    data[:, 30:32] += 0.9  # a weak one; chance adds another at 1-2
    runs, theirs = neurora_cluster_p(data, 500, monkeypatch)
    ours = cluster_test(data, 0, method='neurora', tail=1, n_permutations=20_000, seed=0)
    assert [r.tolist() for r in runs] == [c.tolist() for c in ours['clusters']] == [[1, 2], list(range(10, 17)), [30, 31]]
    weak = [i for i, p in enumerate(ours['p_values']) if 0.01 < p < 0.5]
    assert len(weak) == 2  # the planted data's premise: two clusters whose p Monte-Carlo error can move
    bound = 3 * np.sqrt(ours['p_values'] * (1 - ours['p_values']) / 500) + 0.01
    assert np.all(np.abs(ours['p_values'] - theirs) < bound), (ours['p_values'], theirs)


def test_no_effect_is_rarely_significant_for_either():
    ours, theirs = 0, 0
    for seed in range(40):
        data = np.random.default_rng(100 + seed).normal(size=(10, 60))
        ours += cluster_test(data, 0, method='neurora', tail=1, n_permutations=200, seed=seed)['significant'].any()
        if seed < 12:
            theirs += neurora(stuff.clusterbased_permutation_1d_1samp_1sided, data, 0, iter=100, seed=seed).any()
    # NeuroRA's null is unselected while its clusters are selected, so nearly every chance cluster
    # passes: about the chance of two neighbours beyond p < .05 somewhere among 60 points
    assert ours / 40 <= 0.3 and theirs / 12 <= 0.34


def test_a_single_supra_threshold_point_is_never_a_cluster():
    rng = np.random.default_rng(1)
    data = rng.normal(size=(10, 30)) * 0.3
    data[:, 15] += 5.0  # t ≈ 50 at one time point, alone
    data[:, 14] -= 1.0
    data[:, 16] -= 1.0
    theirs = neurora(stuff.clusterbased_permutation_1d_1samp_1sided, data, 0, iter=50)
    ours = cluster_test(data, 0, method='neurora', tail=1)
    assert not theirs.any() and not ours['significant'].any() and ours['clusters'] == []
    data[:, 16] += 6.0  # now two neighbours: one cluster, clearly significant
    ours = cluster_test(data, 0, method='neurora', tail=1)
    assert [c.tolist() for c in ours['clusters']] == [[15, 16]] and ours['significant'][[15, 16]].all()


def test_the_method_is_seeded_named_and_checked():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(2, 10, 40))
    a[:, 5:9] += 0.8
    first, again = (cluster_test(a, b, method='neurora', seed=7) for _ in range(2))
    np.testing.assert_array_equal(first['p_values'], again['p_values'])
    assert cluster_test(a, b)['method'] == 'mne'
    with pytest.raises(Exception, match='unknown cluster test'):
        cluster_test(a, b, method='fieldtrip')


def test_compare_refuses_an_unknown_cluster_test_in_one_line(tmp_path, capsys):
    out = tmp_path / 'out'
    with pytest.raises(SystemExit) as exit:
        cli.main(['compare', '--models', 'cornet-s', '--out', str(out), '--paper', '--cluster-test', 'fieldtrip'])
    error = capsys.readouterr().err
    assert exit.value.code == 2 and error.count('\n') == 1 and "invalid choice: 'fieldtrip'" in error, error
    assert not out.exists()
