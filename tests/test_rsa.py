"""RSA core against independent numpy / scipy / rsatoolbox computations."""
import numpy as np
import pytest
from rsatoolbox.data import Dataset
from rsatoolbox.inference import boot_noise_ceiling
from rsatoolbox.rdm import RDMs, calc_rdm
from scipy.stats import spearmanr

from factories import FixedFeatures
from realnet_brainscore.rsa import eeg_rdms, model_rdm, noise_ceiling, spearman

def test_model_rdm_is_one_minus_pearson():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(7, 3, 4, 2))
    flat = features.reshape(7, -1)
    expected = 1 - np.corrcoef(flat)[np.triu_indices(7, 1)]
    np.testing.assert_allclose(model_rdm(features), expected, atol=1e-12)
    by_hand = 1 - np.dot(flat[2] - flat[2].mean(), flat[5] - flat[5].mean()) / (
        np.linalg.norm(flat[2] - flat[2].mean()) * np.linalg.norm(flat[5] - flat[5].mean()))
    pair = list(zip(*np.triu_indices(7, 1))).index((2, 5))
    assert model_rdm(features)[pair] == pytest.approx(by_hand)


def test_batched_eeg_rdms_equal_the_per_time_point_loop():
    rng = np.random.default_rng(0)
    trials = rng.normal(size=(6, 5, 4, 9))
    batched = eeg_rdms(trials, 'correlation')
    averaged = trials.mean(axis=1)
    for t in range(9):
        loop = calc_rdm(Dataset(averaged[:, :, t]), method='correlation').dissimilarities[0]
        np.testing.assert_allclose(batched[t], loop, atol=1e-10)


def test_crossvalidated_distance_equals_the_fold_pair_loop():
    rng = np.random.default_rng(0)
    trials = rng.normal(size=(5, 6, 3, 4))
    folds = np.array_split(np.arange(6), 3)
    means = [trials[:, f].mean(axis=1) for f in folds]
    expected = np.zeros((4, 10))
    for t in range(4):
        for pair, (i, j) in enumerate(zip(*np.triu_indices(5, 1))):
            products = [np.dot(means[f][i, :, t] - means[f][j, :, t], means[g][i, :, t] - means[g][j, :, t])
                        for f in range(3) for g in range(3) if f != g]
            expected[t, pair] = np.mean(products) / 3
    np.testing.assert_allclose(eeg_rdms(trials, 'crossvalidated', folds=3), expected, atol=1e-10)
    with pytest.raises(ValueError, match='folds must lie between 2'):
        eeg_rdms(trials, 'crossvalidated', folds=7)


def test_crossvalidated_distance_is_unbiased_by_noise():
    """Six presentations of one image with noise: the cross-validated distance averages to 0, while
    the plain squared distance of the averaged patterns keeps the noise (2σ²/repetitions = 0.05)."""
    rng = np.random.default_rng(0)
    trials = np.repeat(rng.normal(size=(1, 1, 8, 1)), 6, axis=0) + rng.normal(size=(6, 40, 8, 1))
    assert abs(eeg_rdms(trials, 'crossvalidated').mean()) < 0.015
    means = trials.mean(axis=1)[:, :, 0]
    plain = [np.mean((means[i] - means[j]) ** 2) for i, j in zip(*np.triu_indices(6, 1))]
    assert np.mean(plain) > 0.03


def test_spearman_equals_scipy():
    rng = np.random.default_rng(0)
    model = rng.normal(size=15)
    rdms = rng.normal(size=(3, 4, 15))
    rho = spearman(model, rdms)
    assert rho.shape == (3, 4)
    for s in range(3):
        for t in range(4):
            assert rho[s, t] == pytest.approx(spearmanr(model, rdms[s, t])[0])


def test_noise_ceiling_equals_rsatoolbox():
    rng = np.random.default_rng(0)
    rdms = rng.normal(size=(6, 3, 28))
    rdms[:, :, :10] += 1.5  # shared structure
    ours = noise_ceiling(rdms)
    theirs = np.array([boot_noise_ceiling(RDMs(rdms[:, t]), method='spearman') for t in range(3)]).T
    np.testing.assert_allclose(ours, theirs, atol=1e-10)
    assert (ours[0] < ours[1]).all()


def test_a_model_made_of_a_subjects_eeg_scores_one_there_and_noise_scores_zero():
    rng = np.random.default_rng(0)
    shared = rng.normal(size=(20, 1, 17, 10))
    subjects = [shared + 0.5 * rng.normal(size=(20, 4, 17, 10)) for _ in range(3)]
    rdms = np.stack([eeg_rdms(s, 'correlation') for s in subjects])
    k, t = 1, 6
    rho = spearman(model_rdm(subjects[k].mean(axis=1)[:, :, t]), rdms)
    assert rho[k, t] == pytest.approx(1.0)
    assert (np.delete(rho[k], t) < 0.99).all()
    noise = spearman(model_rdm(rng.normal(size=(20, 500))), rdms)
    assert abs(noise.mean()) < 0.05 and np.abs(noise).max() < 0.35


@pytest.mark.parametrize('broken, message', [
    (lambda f: f.__setitem__((1, 2), np.nan), r'^fixed-features: IT activations hold NaN/inf: its weights are probably broken$'),
    (lambda f: f.__setitem__(1, 0.5), r'^fixed-features: IT activations are constant across features for some image'),
])
def test_a_model_rdm_that_cannot_be_compared_is_refused(broken, message):
    """rsatoolbox would only say "rdm1 and rdm2 have different nan positions"."""
    from realnet_brainscore import RealnetError
    from realnet_brainscore.recording import region_rdm, stimulus_set
    features = np.random.default_rng(0).normal(size=(4, 6))
    stimuli = stimulus_set([f'image-{i}' for i in range(4)], [f'image-{i}.png' for i in range(4)], 'fixed')
    by_id = {f'image-{i}': row for i, row in enumerate(features)}  # rows are views: `broken` reaches them
    assert region_rdm(FixedFeatures(dict(by_id)), 'IT', stimuli, 8, 'whole') == pytest.approx(model_rdm(features.copy()))
    broken(features)
    with pytest.raises(RealnetError, match=message):
        region_rdm(FixedFeatures(by_id), 'IT', stimuli, 8, 'whole')
