"""The EEG form as a named setting (issue 27, item 1): raw (the OSF arrays as released, the authors'
input) or standardised (each channel × time point z-scored, the default and the hosted copy's only
form) reaches the RDMs, is recorded in scores and kept-score settings, and --paper chooses it by
the data source; raw with the hosted copy is refused in one line."""
import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from realnet_brainscore import cli, score_store
from realnet_brainscore.benchmarks.gifford2022_temporal_rsa import benchmark as eeg_benchmark
from realnet_brainscore.data import things_eeg2
from realnet_brainscore.decoding_cache import cache_key
from realnet_brainscore.errors import RealnetError
from realnet_brainscore.records import ScoreRecord
from realnet_brainscore.synthetic import Design, channel_gains, write_things_eeg2
from test_things_eeg2 import _brainscore_style

EEG = 'Gifford2022.IT-temporal_rsa'
PLANTED_CHANNEL, PLANTED_SCALE = 3, 7.0
TINY = Design(subjects=2, concepts=1, images_per_concept=1, test_images=6, test_repetitions=20, image_size=16)


@pytest.fixture(scope='module')
def releases(tmp_path_factory):
    """A tiny release and its copy with sub-01's channel 3 multiplied by 7 (a planted scale)."""
    root = tmp_path_factory.mktemp('form')
    release = write_things_eeg2(root / 'things', TINY)
    planted = root / 'planted'
    shutil.copytree(release, planted)
    file = planted / 'preprocessed_data' / 'sub-01' / 'preprocessed_eeg_test.npy'
    content = np.load(file, allow_pickle=True).item()
    content['preprocessed_eeg_data'][:, :, PLANTED_CHANNEL] *= PLANTED_SCALE
    np.save(file, content, allow_pickle=True)
    return release, planted


@pytest.fixture
def no_osf(monkeypatch):
    monkeypatch.delenv('REALNET_THINGS_EEG2', raising=False)


def _decoding_inputs(folder, form, monkeypatch) -> list:
    """What the decoding RDMs of each subject receive, the SVMs themselves replaced by random RDMs."""
    seen = []

    def fake(trials, name):
        seen.append(np.array(trials))
        return np.random.default_rng(len(seen)).uniform(0.4, 0.9, (trials.shape[3], 15))
    monkeypatch.setattr(eeg_benchmark, 'cached_decoding_rdms', fake)
    eeg_benchmark.eeg_reference.__wrapped__(str(folder), (1, 2), 'decoding', form)
    return seen


def test_a_planted_channel_scale_reaches_raw_decoding_but_not_standardised(releases, monkeypatch):
    release, planted = releases
    raw, raw_planted = (_decoding_inputs(folder, 'raw', monkeypatch)[0] for folder in (release, planted))
    assert np.allclose(raw_planted[:, :, PLANTED_CHANNEL], PLANTED_SCALE * raw[:, :, PLANTED_CHANNEL])
    assert np.array_equal(np.delete(raw_planted, PLANTED_CHANNEL, 2), np.delete(raw, PLANTED_CHANNEL, 2))
    osf = things_eeg2.trials(things_eeg2.load_subject(release, 1, 'test'))[3]
    assert np.array_equal(raw, osf.astype(np.float64))  # the OSF arrays as released
    standard, standard_planted = (_decoding_inputs(folder, 'standardised', monkeypatch)[0]
                                  for folder in (release, planted))
    assert np.allclose(standard, standard_planted) and np.allclose(standard.std(axis=(0, 1)), 1)
    # the decoding cache keeps each form under its own key
    assert len({cache_key(trials).hexdigest() for trials in (raw, raw_planted, standard)}) == 3
    assert cache_key(raw).hexdigest() == cache_key(raw.copy()).hexdigest()


def test_correlation_rdms_follow_the_form(releases):
    """The whole way to the RDMs: the planted scale changes raw RDMs only."""
    release, planted = releases
    rdms = {(form, folder.name): eeg_benchmark.eeg_reference.__wrapped__(str(folder), (1, 2), 'correlation', form).rdms
            for form in things_eeg2.EEG_FORMS for folder in (release, planted)}
    assert np.abs(rdms['standardised', 'things'] - rdms['standardised', 'planted']).max() < 1e-4
    assert np.abs(rdms['raw', 'things'][0] - rdms['raw', 'planted'][0]).mean() > 0.01
    assert np.allclose(rdms['raw', 'things'][1], rdms['raw', 'planted'][1])  # sub-02 untouched


def test_the_form_is_recorded_and_kept_scores_of_the_other_form_are_not_reused(releases, tmp_path, monkeypatch):
    release, _ = releases
    monkeypatch.setattr(eeg_benchmark, 'region_rdm', lambda *args: np.random.default_rng(0).uniform(size=15))
    benchmark = eeg_benchmark.TemporalRSA('IT', things_eeg2=str(release), method='correlation', eeg_form='raw')
    score = benchmark(candidate=None)
    record = ScoreRecord.from_score(score, 'm', EEG, benchmark)
    assert score.attrs['eeg_form'] == 'raw' and record.eeg_form == 'raw'
    assert ScoreRecord.from_json(json.loads(json.dumps(record.to_json()))).eeg_form == 'raw'
    assert eeg_benchmark.TemporalRSA('IT').eeg_form == 'standardised'  # the registered default
    raw, standardised = (score_store.benchmark_settings([EEG], {'eeg_form': form}) for form in ('raw', 'standardised'))
    assert raw[EEG]['eeg_form'] == 'raw' and standardised[EEG]['eeg_form'] == 'standardised'
    assert score_store.benchmark_settings([EEG], {})[EEG] == standardised[EEG]
    path, data = tmp_path / 'm.json', {'things_eeg2': str(release), 'shen2019': None}
    path.write_text(json.dumps({'model': 'm', 'data': data, 'settings': raw,
                                'results': [{'benchmark': EEG, 'record': record.to_json()}]}))
    assert list(score_store.kept_records(path, 'm', data, raw)) == [EEG]
    assert score_store.kept_records(path, 'm', data, standardised) == {}


def test_raw_with_the_hosted_copy_is_refused_in_one_line(releases, monkeypatch, no_osf, tmp_path, capsys):
    import brainscore_vision
    release, _ = releases
    monkeypatch.setattr(brainscore_vision, 'load_dataset', lambda identifier: _brainscore_style(release, 'test'))
    hosted = eeg_benchmark.TemporalRSA('IT', subjects=(1, 2), method='correlation')
    assert hosted.reference().rdms.shape == (2, 100, 15)  # standardised: the hosted copy's form
    hosted.eeg_form = 'raw'
    with pytest.raises(RealnetError, match='cannot be un-standardised'):
        hosted.reference()
    for argv in (['score', '--model', 'cornet-s', '--benchmark', EEG, '--eeg-form', 'raw'],
                 ['compare', '--models', 'cornet-s', '--out', str(tmp_path / 'out'), '--eeg-form', 'raw']):
        assert cli.main([*argv, '-q']) == 2
        error = capsys.readouterr().err
        assert error.count('\n') == 1 and '--eeg-form raw needs the OSF release (--things-eeg2 DIR' in error, error
    assert not (tmp_path / 'out').exists()
    assert cli.main(['score', '--model', 'cornet-s', '--eeg-form', 'zscored', '-q']) == 2
    assert "unknown --eeg-form 'zscored': choose standardised or raw" in capsys.readouterr().err


@pytest.mark.parametrize('osf', [False, True])
def test_paper_decodes_raw_with_the_osf_files_and_says_one_line_with_the_hosted_copy(
        osf, releases, monkeypatch, no_osf, tmp_path, capsys):
    asked = []

    def scored(*args, options, **rest):  # the options --paper chose, without the scoring
        asked.append(options)
        return {}
    monkeypatch.setattr(score_store, 'score_models', scored)
    folder = ['--things-eeg2', str(releases[0])] if osf else []
    assert cli.main(['compare', '--models', 'cornet-s', '--out', str(tmp_path / 'out'), '--paper', *folder]) == 2
    error = capsys.readouterr().err
    note = [line for line in error.splitlines() if 'standardised per channel × time point' in line]
    if osf:
        assert asked[0]['eeg_form'] == 'raw' and not note
    else:
        assert asked[0]['eeg_form'] == 'standardised' and len(note) == 1
        assert 'not scale-invariant' in note[0] and 'give --things-eeg2 DIR' in note[0]
    assert asked[0]['screen'] == 'whole' and asked[0]['method'] == 'decoding'


def test_an_explicit_form_overrides_paper(releases, monkeypatch, no_osf, tmp_path, capsys):
    asked = []
    monkeypatch.setattr(score_store, 'score_models', lambda *args, options, **rest: asked.append(options) or {})
    argv = ['compare', '--models', 'cornet-s', '--out', str(tmp_path / 'out'), '--paper']
    assert cli.main([*argv, '--things-eeg2', str(releases[0]), '--eeg-form', 'standardised']) == 2
    assert cli.main([*argv, '--eeg-form', 'standardised']) == 2
    assert [options['eeg_form'] for options in asked] == ['standardised', 'standardised']
    assert 'not scale-invariant' not in capsys.readouterr().err  # the user chose the form


def test_recorded_scales_whiten_the_noise_and_vary_the_signal(tmp_path):
    design = Design(subjects=1, concepts=1, images_per_concept=1, test_images=8, test_repetitions=40,
                    image_size=16, scales='recorded')
    trials = things_eeg2.trials(things_eeg2.load_subject(write_things_eeg2(tmp_path / 'r', design), 1, 'test'))[3]
    before = trials[..., :15]  # -200 … -60 ms: noise only
    assert np.allclose(before.std(axis=(0, 1, 3)), 1, atol=0.1)  # whitened: sd 1 on every channel
    gains = channel_gains(0, 1)
    assert 1 < gains.max() / gains.min() <= 10
    # after the image the total scale follows each channel's gain: what standardising removes
    evoked = trials[..., 25:30].mean(axis=1).std(axis=(0, 2))
    assert np.corrcoef(np.log(evoked), np.log(gains))[0, 1] > 0.5
    assert Design().scales == 'flat'
    with pytest.raises(RealnetError, match='`scales`'):
        write_things_eeg2(tmp_path / 'bad', Design(scales='loud'))


def test_the_measurement_runs_on_a_tiny_set(tmp_path):
    spec = importlib.util.spec_from_file_location('eeg_form', Path(__file__).parents[1] / 'timing' / 'eeg_form.py')
    measurement = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(measurement)
    design = Design(subjects=1, concepts=1, images_per_concept=1, test_images=4, test_repetitions=20,
                    image_size=16, scales='recorded')
    rows = measurement.measure(design, tmp_path)
    assert list(rows) == [row for row, *_ in measurement.ROWS]
    assert all(-1 <= rho <= 1 and 0 <= delta <= 1 for rho, delta in rows.values())
    assert 'raw vs standardised' in measurement.table({'recorded': rows})
