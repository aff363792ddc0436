"""Pairwise-decoding EEG RDMs against scikit-learn's SVC and the authors' toolbox NeuroRA."""
import contextlib
import io

import numpy as np
import pytest
from sklearn.svm import SVC

from realnet_brainscore import decoding
from realnet_brainscore.data.things_eeg2 import load_subject, standardise, trials
from realnet_brainscore.decoding import decoding_rdms, smooth_time, svm_decisions
from realnet_brainscore.decoding_cache import cached_decoding_rdms
from realnet_brainscore.rsa import eeg_rdms
from realnet_brainscore.synthetic import Design, write_things_eeg2


def _pseudo_trial_problems(rng, n_pairs=16, n_times=12):
    """Training and test sets as the authors' protocol draws them: 80 trials an image averaged in
    fives into 16 pseudo-trials, a stratified 4-fold split; weak image signal, so that accuracy
    sits mostly near chance, where SVMs are hardest (standardised scale, as the benchmark decodes)."""
    signal = rng.normal(size=(2 * n_pairs, 1, 17, n_times)) * 0.12
    data = signal + rng.normal(size=(2 * n_pairs, 80, 17, n_times))
    for pair in range(n_pairs):
        pseudo = [data[2 * pair + k][rng.permutation(80)].reshape(16, 5, 17, n_times).mean(axis=1) for k in (0, 1)]
        x, y = np.concatenate(pseudo), np.repeat([0, 1], 16)
        for t in range(n_times):
            fold = np.concatenate([rng.permutation(16) % 4, rng.permutation(16) % 4])
            for f in range(4):
                yield x[fold != f, :, t], y[fold != f], x[fold == f, :, t], y[fold == f]


def test_svm_predictions_equal_scikit_learns_svc():
    """16 pairs × 12 time points × 4 folds = 768 SVMs, 6,144 test predictions."""
    rng = np.random.default_rng(0)
    agree = total = correct = 0
    for train, labels, test, truth in _pseudo_trial_problems(rng):
        reference = SVC(kernel='linear', tol=1e-4).fit(train, labels)
        ours = np.where(svm_decisions(train, labels, test) > 0, 0, 1)
        agree += (ours == reference.predict(test)).sum()
        correct += (ours == truth).sum()
        total += len(test)
    print(f'predictions equal to SVC: {agree}/{total}; accuracy {correct / total:.3f}')
    assert agree / total >= 0.995
    assert 0.55 < correct / total < 0.9  # the problems are neither trivial nor hopeless


def test_svm_decision_values_match_libsvms_within_its_tolerance():
    rng = np.random.default_rng(1)
    for train, labels, test, _ in list(_pseudo_trial_problems(rng, n_pairs=2, n_times=5)):
        reference = -SVC(kernel='linear', tol=1e-4).fit(train, labels).decision_function(test)  # + = class 0
        np.testing.assert_allclose(svm_decisions(train, labels, test), reference, atol=5e-3 * np.abs(reference).max())


def test_smoothing_is_neuroras_centred_moving_average():
    by_hand = [np.mean([1, 2, 3]), np.mean([1, 2, 3, 4]), 3, 4, np.mean([3, 4, 5, 6]), np.mean([4, 5, 6])]
    np.testing.assert_allclose(smooth_time(np.arange(1.0, 7.0)), by_hand)
    stuff = pytest.importorskip('neurora.stuff', reason='NeuroRA comes with the test extra')
    values = np.random.default_rng(0).normal(size=(3, 17))
    np.testing.assert_array_equal(smooth_time(values), stuff.smooth_1d(values))


def test_smoothed_accuracies_stay_within_0_and_1():
    """Accuracies in 40ths with a run of perfect decoding: a running sum's differences gave 1 + 2e-16
    in 23 % of such rows, which the RDM cache then refused on every read."""
    rng = np.random.default_rng(0)
    accuracies = rng.integers(0, 41, (2000, 100)) / 40
    accuracies[:, 40:60] = 1.0
    smoothed = smooth_time(accuracies)
    assert smoothed.min() >= 0 and smoothed.max() == 1.0


def test_indistinguishable_images_decode_at_chance_and_distinct_ones_perfectly():
    rng = np.random.default_rng(2)
    same = rng.normal(size=(3, 40, 6, 8))  # three images, one distribution
    distinct = same + 3 * np.eye(3)[:, None, :, None].repeat(2, axis=2)[:, :, :6]
    # Chance, or a little below: with 8 pseudo-trials a class, a held-out trial pulls its own class's
    # training mean away from itself (measured 0.45; NeuroRA shows the same).
    assert 0.4 < decoding_rdms(same).mean() < 0.52
    assert decoding_rdms(distinct).min() == 1.0
    assert decoding_rdms(same).shape == (8, 3)


def test_results_do_not_depend_on_threads_and_follow_the_seed():
    import numba
    data = np.random.default_rng(3).normal(size=(4, 20, 5, 6))
    first = decoding_rdms(data, seed=7)
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        np.testing.assert_array_equal(decoding_rdms(data, seed=7), first)
    finally:
        numba.set_num_threads(threads)
    assert not np.array_equal(decoding_rdms(data, seed=8), first)
    with pytest.raises(ValueError, match='too few for 4 folds'):
        decoding_rdms(data[:, :15])


def test_rdms_agree_with_neurora_on_a_things_eeg2_layout_set(tmp_path, capsys):
    """The authors' call (RWsize EEGRDMs_decoding.py) per pair of 5 in-silico test images, on 0–190 ms.
    NeuroRA draws its pseudo-trials and folds from numpy's global generator: two seeds give the
    spread that any faithful implementation shows against it."""
    decoding_module = pytest.importorskip('neurora.decoding', reason='NeuroRA comes with the test extra')
    root = write_things_eeg2(tmp_path / 'things', Design(subjects=1, concepts=2, images_per_concept=1, test_images=5,
                                                         test_repetitions=80, image_size=16))
    _, _, times, data = trials(load_subject(root, 1, 'test'))
    # standardised, as the benchmark decodes it (libsvm, in NeuroRA, crawls on the raw in-silico scale of ~1000)
    data = standardise(data)[..., (times >= 0) & (times < 0.2)]

    def neurora(seed):
        np.random.seed(seed)
        rdms = []
        for i, j in zip(*np.triu_indices(len(data), 1)):
            with contextlib.redirect_stdout(io.StringIO()):  # its progress bar
                accuracy = decoding_module.tbyt_decoding_kfold(
                    np.concatenate([data[i], data[j]])[None], np.repeat([0, 1], 80)[None], n=2, navg=5,
                    time_opt='average', time_win=1, time_step=1, nfolds=4, nrepeats=5, normalization=False,
                    pca=False, smooth=True)
            rdms.append(accuracy[0])
        return np.array(rdms).T

    authors, again, ours = neurora(0), neurora(1), eeg_rdms(data, 'decoding', seed=0)
    spread, difference = np.abs(again - authors).mean(), np.abs(ours - authors).mean()
    bias = abs((ours - authors).mean())
    with capsys.disabled():
        print(f'\nmean |NeuroRA seed 1 − seed 0| = {spread:.4f}; mean |ours − NeuroRA seed 0| = {difference:.4f}; '
              f'mean (ours − NeuroRA) = {bias:+.4f}; accuracy range {authors.min():.2f}–{authors.max():.2f}')
    assert authors.max() - authors.min() > 0.2  # the set has structure to agree on
    # measured over seeds: |ours − NeuroRA| 0.014–0.016 against NeuroRA's own 0.014, and mean
    # differences of −0.003 … +0.005 against NeuroRA's own −0.005 … 0.000
    assert difference <= 1.5 * spread and bias <= 0.6 * spread
    assert np.corrcoef(ours.ravel(), authors.ravel())[0, 1] > 0.9


def test_rdms_are_computed_once_and_kept(monkeypatch, realnet_home, capfd):
    """Kept under a key of the data's contents; a damaged file is recomputed."""
    data = np.random.default_rng(4).normal(size=(4, 20, 5, 6))
    first = cached_decoding_rdms(data, 'sub-01')
    assert 'computing pairwise-decoding EEG RDMs (6 image pairs × 6 time points' in capfd.readouterr().err
    kept, = (realnet_home / 'cache' / 'eeg_rdms').glob('sub-01-decoding-*.npy')
    with monkeypatch.context() as patch:
        patch.setattr(decoding, 'decoding_rdms', lambda *a, **k: pytest.fail('recomputed'))
        np.testing.assert_array_equal(cached_decoding_rdms(data, 'sub-01'), first)
    kept.write_bytes(kept.read_bytes()[:100])  # a truncated file is computed again, not trusted
    np.testing.assert_array_equal(cached_decoding_rdms(data, 'sub-01', progress=False), first)
    assert capfd.readouterr().err == ''  # progress=False (the CLI's -q): no notice, no bar
    other = cached_decoding_rdms(data * 2 + 1e-3, 'sub-01', progress=False)  # other data, other key
    assert len(list((realnet_home / 'cache' / 'eeg_rdms').glob('*.npy'))) == 2 and other.shape == first.shape
    # images told apart perfectly at most of times 8-21: smoothed accuracies of 1 are kept and read
    # back (a running sum's differences made some 1 + 2e-16 here, which the cache then refused)
    rng = np.random.default_rng(0)
    separable = rng.normal(size=(4, 20, 5, 30))
    separable[..., 8:22] += rng.normal(size=(4, 1, 5, 1)) * 1.5
    saturated = cached_decoding_rdms(separable, 'sub-02', progress=False)
    assert saturated.max() == 1.0
    with monkeypatch.context() as patch:
        patch.setattr(decoding, 'decoding_rdms', lambda *a, **k: pytest.fail('recomputed'))
        np.testing.assert_array_equal(cached_decoding_rdms(separable, 'sub-02', progress=False), saturated)


def test_too_few_trials_for_the_authors_folds_is_one_line_and_exit_2(tmp_path, capsys):
    from factories import random_cornet, write_dicarlolab_checkpoint
    from realnet_brainscore import cli
    root = write_things_eeg2(tmp_path / 'things', Design(subjects=2, concepts=2, images_per_concept=1, test_images=4,
                                                         test_repetitions=15, image_size=16))
    weights = tmp_path / 'cornet.pth'
    write_dicarlolab_checkpoint(weights, random_cornet(0))
    code = cli.main(['score', '--model', 'cornet-s', '--weights', str(weights), '--benchmark',
                     'Gifford2022.IT-temporal_rsa', '--things-eeg2', str(root), '-q'])
    error = capsys.readouterr().err
    assert code == 2 and error.count('\n') == 1, error
    assert 'sub-01: decoding RDMs: 15 trials make 3 pseudo-trials of 5: too few for 4 folds' in error
