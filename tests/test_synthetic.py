"""The in-silico subjects: deterministic, in the published layout, with the planted structure."""
import hashlib

import numpy as np
import pytest

from realnet_brainscore.data.things_eeg2 import load_subject
from realnet_brainscore.synthetic import EARLY_PEAK, LATE_PEAK, Design, HiddenBrain, write_things_eeg2

DESIGN = Design(subjects=2, concepts=8, images_per_concept=2, test_images=16, test_repetitions=40, image_size=32)


def _digest(root):
    digest = hashlib.sha1()
    for path in sorted(p for p in root.rglob('*') if p.is_file()):
        digest.update(str(path.relative_to(root)).encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope='module')
def release(tmp_path_factory):
    return write_things_eeg2(tmp_path_factory.mktemp('a'), DESIGN)


def test_same_seed_same_bytes_other_seed_other_data(release, tmp_path):
    assert _digest(write_things_eeg2(tmp_path / 'again', DESIGN)) == _digest(release)
    other = write_things_eeg2(tmp_path / 'other', Design(**{**DESIGN.__dict__, 'seed': 1}))
    assert _digest(other) != _digest(release)


def test_evoked_signal_is_time_locked_and_silent_before_onset(release):
    test = load_subject(release, 1, 'test', average_repetitions=True)
    times = test['time_bin_start'].values
    spread = test.values.std(axis=0).mean(axis=0)  # across images, per time point
    assert 0.05 <= times[spread.argmax()] <= 0.2
    assert spread[times < -0.05].mean() < 0.3 * spread.max()


def test_early_and_late_features_peak_at_their_times():
    brain = HiddenBrain(seed=0)
    rng = np.random.default_rng(0)
    mixing = brain.subject_mixing(1)
    for name, peak in (('early', EARLY_PEAK), ('late', LATE_PEAK)):
        features = {'early': np.zeros((50, 32)), 'late': np.zeros((50, 12))}
        features[name] = rng.normal(size=features[name].shape)
        evoked = brain.evoked(features, mixing)
        times = np.round(np.arange(-20, 80) / 100, 2)
        assert abs(times[evoked.std(axis=0).mean(axis=0).argmax()] - peak) < 0.015


def test_subjects_share_structure_but_differ(release):
    one, two = (load_subject(release, s, 'test', average_repetitions=True).values for s in (1, 2))
    # representational geometry at the peak: similar across subjects, but not identical responses
    def rdm(x):
        return 1 - np.corrcoef(x[:, :, 29])[np.triu_indices(len(x), 1)]
    assert np.corrcoef(rdm(one), rdm(two))[0, 1] > 0.3
    assert not np.allclose(one, two)


def test_repetitions_are_noisy_but_reliable(release):
    trials = np.load(release / 'preprocessed_data' / 'sub-01' / 'preprocessed_eeg_test.npy',
                     allow_pickle=True).item()['preprocessed_eeg_data'][:, :, :, 25:40]  # 50-190 ms
    single = np.corrcoef(trials[:, 0].ravel(), trials[:, 1].ravel())[0, 1]
    halves = np.corrcoef(trials[:, ::2].mean(1).ravel(), trials[:, 1::2].mean(1).ravel())[0, 1]
    assert single < 0.4 and halves > 0.7


def test_synth_command_writes_a_readable_release_and_refuses_to_overwrite(tmp_path, capsys):
    from realnet_brainscore import cli
    out = tmp_path / 'insilico'
    arguments = ['synth', '--out', str(out), '--subjects', '1', '--concepts', '3', '--images-per-concept', '2',
                 '--test-images', '2', '--image-size', '16']
    assert cli.main(arguments) == 0
    assert str(out) in capsys.readouterr().out
    assert load_subject(out, 1, 'training').shape == (6 * 4, 17, 100)
    assert cli.main(arguments) == 2
    assert 'exists and is not an empty folder' in capsys.readouterr().err
