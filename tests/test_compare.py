"""`brainscore compare`: kept scores, paired statistics and the report, on planted records and
end to end on the in-silico subjects."""
import json
import os

import numpy as np
import pytest
import torch

from factories import SIZE
from realnet_brainscore import RealnetError, cli, statistics
from realnet_brainscore.report import report_folder, write_report
from realnet_brainscore.score_store import Candidate, kept_records, records_by_model, score_models
from realnet_brainscore.records import ScoreRecord
from realnet_brainscore.suite import SuiteResult

TIMES = np.round(np.arange(-0.1, 0.5, 0.01), 2)
WINDOW = (0.05, 0.35)
SUBJECTS = [f'sub-{s:02d}' for s in range(1, 11)]


def eeg_json(model, region, rho):
    """A temporal RSA score record as `brainscore score --json` writes it (subjects × times ρ)."""
    return {'model': model, 'benchmark': f'Gifford2022.{region}-temporal_rsa', 'kind': 'EEG', 'area': region,
            'score': float(rho.mean()), 'window': list(WINDOW),
            'time_course': {'dims': ['subject', 'time_bin'], 'values': rho.tolist(),
                            'coords': {'subject': SUBJECTS, 'time_bin': TIMES.tolist()}},
            'ceiling_time_course': {'dims': ['bound', 'time_bin'], 'values': np.full((2, len(TIMES)), 0.5).tolist(),
                                    'coords': {'bound': ['lower', 'upper'], 'time_bin': TIMES.tolist()}}}


def eeg_record(model, region, rho):
    return ScoreRecord.from_json(eeg_json(model, region, rho))


def planted_results(personal_boost=0.1, subject_offset=0.02):
    """cornet-s and realnet-s01 … s06 on the IT benchmark: subject k's EEG is a little more
    similar to every model (subject_offset × k), and ReAlnet k gains ``personal_boost`` on its own
    subject only, inside 100-200 ms."""
    rng = np.random.default_rng(0)
    base = 0.2 + subject_offset * np.arange(10)[:, None] + 0.005 * rng.standard_normal((10, len(TIMES)))
    inside = (TIMES >= 0.1) & (TIMES <= 0.2)
    results = {'cornet-s': [SuiteResult('Gifford2022.IT-temporal_rsa', eeg_record('cornet-s', 'IT', base))]}
    for k in range(1, 7):
        rho = base + 0.005 * rng.standard_normal(base.shape)
        rho[k - 1, inside] += personal_boost
        name = f'realnet-s{k:02d}'
        results[name] = [SuiteResult('Gifford2022.IT-temporal_rsa', eeg_record(name, 'IT', rho))]
    return results, base


def test_matched_subjects_recover_the_planted_personal_advantage():
    results, base = planted_results()
    rows = statistics.matched_subject_rows(records_by_model(results), 'cornet-s')
    assert [r['model'] for r in rows] == [f'realnet-s{k:02d}' for k in range(1, 7)]
    in_window = (TIMES >= WINDOW[0]) & (TIMES < WINDOW[1])
    boost = 0.1 * ((TIMES >= 0.1) & (TIMES <= 0.2))[in_window].mean()  # the boost's share of the window
    for k, row in enumerate(rows):
        assert row['baseline_own'] == pytest.approx(base[k, in_window].mean())
        assert row['own'] - row['baseline_own'] == pytest.approx(boost, abs=0.005)
    summary = statistics.matched_subject_statistics(rows)['IT']
    assert summary['models'] == 6 and summary['advantage'] == pytest.approx(boost, abs=0.005) and summary['p'] < 0.01
    # no boost: no advantage, though subject 10's EEG is more similar to every model than subject 1's
    null = statistics.matched_subject_statistics(statistics.matched_subject_rows(
        records_by_model(planted_results(personal_boost=0)[0]), 'cornet-s'))['IT']
    assert abs(null['advantage']) < 0.005 and null['p'] > 0.05


def test_matched_subjects_pair_any_personal_eeg_model_with_its_subject():
    """Aligned ResNets (with or without a weights hash) are paired with their subject as ReAlnets are;
    an fMRI model's subject is of another data set, and a backbone has none."""
    results, _ = planted_results()
    renamed = {'cornet-s': results['cornet-s'], 'resnet50-eeg-s01+3fa2c1d0': results['realnet-s01'],
               'resnet50-eeg-s02': results['realnet-s02'], 'cornet-s-fmri-s03': results['realnet-s03'],
               'resnet50': results['realnet-s04']}
    rows = statistics.matched_subject_rows(records_by_model(renamed), 'cornet-s')
    assert [(r['model'], r['subject']) for r in rows] == [('resnet50-eeg-s01+3fa2c1d0', 'sub-01'),
                                                         ('resnet50-eeg-s02', 'sub-02')]


def test_figure_1b_pairs_each_realnet_with_its_own_subject(tmp_path):
    results, base = planted_results()
    (panel,), pair = statistics.eeg_view(records_by_model(results), 'cornet-s')
    assert pair == tuple(panel.courses) == ('ReAlnets on own subject (n=6)', 'cornet-s on the same subjects')
    group, same = (panel.courses[label] for label in pair)
    assert panel.area == 'IT' and panel.subjects == SUBJECTS[:6] and not panel.scores
    np.testing.assert_allclose(same, base[:6])
    for k in range(6):
        np.testing.assert_allclose(group[k], results[f'realnet-s{k + 1:02d}'][0].record.time_course.values[k])

    report = write_report(tmp_path, results, 'cornet-s')
    clusters = json.loads((tmp_path / 'comparison.json').read_text())['statistics']['eeg']['clusters']['IT']
    # one cluster: the planted window (a cluster's edges may take in a noisy neighbour sample)
    assert len(clusters) == 1 and 0.09 <= clusters[0]['start_s'] <= 0.1 and 0.2 <= clusters[0]['stop_s'] <= 0.21
    in_cluster = (TIMES >= clusters[0]['start_s'] - 1e-9) & (TIMES <= clusters[0]['stop_s'] + 1e-9)
    planted = 0.1 * ((TIMES >= 0.1) & (TIMES <= 0.2))[in_cluster].mean()
    assert clusters[0]['difference'] == pytest.approx(planted, abs=0.003)
    assert f"ms (ReAlnets on own subject (n=6) above, mean Δρ {clusters[0]['difference']:+.3f})" in report.read_text()
    assert {p.name for p in tmp_path.glob('*.png')} == {'eeg_time_courses.png', 'matched_subjects.png'}


def test_behaviour_and_fmri_are_tested_against_the_baseline(tmp_path):
    """Four ReAlnets above cornet-s on two behavioural benchmarks (planted) and equal on a third; a
    neural benchmark of Brain-Score's is reported apart from behaviour."""
    rng = np.random.default_rng(1)
    results = {}
    for index, name in enumerate(['cornet-s', 'realnet-s01', 'realnet-s02', 'realnet-s03', 'realnet-s04']):
        gain = 0 if name == 'cornet-s' else 0.05
        scores = {'Rajalingham2018public-i2n': 0.5 + gain, 'Geirhos2021colour-error_consistency': 0.3 + gain,
                  'Geirhos2021edge-error_consistency': 0.2 + (0.01 * (-1) ** index if index else 0)}
        results[name] = [SuiteResult(b, ScoreRecord(name, b, s + 0.002 * rng.standard_normal(), kind='behaviour'))
                         for b, s in scores.items()]
        results[name].append(SuiteResult('MajajHong2015public.IT-pls', ScoreRecord(
            name, 'MajajHong2015public.IT-pls', 0.5 + gain + 0.002 * rng.standard_normal(), kind='neural', area='IT')))
        results[name].append(SuiteResult('Shen2019.V1-rsa', unavailable='no Shen 2019 data'))
    report = write_report(tmp_path, results, 'cornet-s').read_text()
    saved = json.loads((tmp_path / 'comparison.json').read_text())
    p = saved['statistics']['behaviour_p']
    assert list(p) == ['Rajalingham2018public-i2n', 'Geirhos2021colour-error_consistency',
                       'Geirhos2021edge-error_consistency']
    assert p['Rajalingham2018public-i2n'] < 0.001 and p['Geirhos2021colour-error_consistency'] < 0.001
    assert p['Geirhos2021edge-error_consistency'] > 0.05
    assert saved['statistics']['neural_p']['MajajHong2015public.IT-pls'] < 0.001
    assert saved['records']['cornet-s']['MajajHong2015public.IT-pls']['kind'] == 'neural'
    assert (tmp_path / 'behaviour.png').stat().st_size > 10_000 and not (tmp_path / 'fmri_rois.png').exists()
    assert "## Brain-Score's neural benchmarks (`neural.png`)" in report and (tmp_path / 'neural.png').exists()
    assert '- Shen2019.V1-rsa (every model): no Shen 2019 data' in report


@pytest.fixture
def baseline_file(insilico, tmp_path):
    """The in-silico CORnet-S with the image size it goes with, as `brainscore demo` writes it."""
    _, base, _ = insilico
    path = tmp_path / 'cornet-s-insilico.pth'
    torch.save({'state_dict': torch.load(base, weights_only=True)['state_dict'],
                'meta': {'config': {'image_size': SIZE}}}, path)
    return path


def test_compare_scores_keeps_and_reports(insilico, aligned, baseline_file, tmp_path, monkeypatch, capsys):
    release, _, _ = insilico
    out = tmp_path / 'compare'
    argv = ['compare', '--models', f'cornet-s={baseline_file}', f'realnet-s01={aligned[1]["best_checkpoint"]}',
            '--things-eeg2', str(release), '--benchmarks', 'Gifford2022.V4-temporal_rsa',
            'Gifford2022.IT-temporal_rsa', 'Shen2019.V1-rsa', '--out', str(out), '--batch-size', '30', '-q']
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert printed.count('unavailable: no Shen 2019 data') == 2
    assert printed.strip().endswith(f'the report is {out / "report.md"}')
    report = (out / 'report.md').read_text()
    assert 'Where realnet-s01 and cornet-s differ' in report and '| realnet-s01 | IT |' in report
    assert 'Shen2019.V1-rsa (every model): no Shen 2019 data: pass --shen2019 DIR or set REALNET_SHEN2019' in report
    assert {p.name for p in out.glob('*.png')} == {'eeg_time_courses.png', 'matched_subjects.png'}
    umask = os.umask(0o022)
    os.umask(umask)
    assert (out / 'report.md').stat().st_mode & 0o777 == 0o666 & ~umask  # readable like any file the user writes
    first = json.loads((out / 'comparison.json').read_text())['records']

    # a second run reuses every score: no model is even loaded
    def refuse(*args, **options):
        raise RuntimeError('a kept score was rerun')

    monkeypatch.setattr('realnet_brainscore.models.load_model', refuse)
    argv_kept = [a for a in argv if a != 'Shen2019.V1-rsa']
    assert cli.main(argv_kept) == 0
    assert capsys.readouterr().out.count('2 scores kept') == 2
    assert json.loads((out / 'comparison.json').read_text())['records'] == first

    # other weights under the same name: scored afresh
    other = tmp_path / 'other.pth'
    torch.save({**torch.load(baseline_file, weights_only=True), 'epoch': 1}, other)
    assert cli.main([a.replace(str(baseline_file), str(other)) for a in argv_kept]) == 1  # load_model refuses
    assert 'a kept score was rerun' in capsys.readouterr().err


@pytest.mark.parametrize('models, message', [
    (['cornet-s', 'alexnet-s01'], "unknown model 'alexnet-s01'"),  # 'alexnet' alone is torchvision's AlexNet
    (['cornet-s', 'realnet-s01=/nonexistent.pth'], '/nonexistent.pth: no such weights file (given for realnet-s01)'),
    (['realnet-s01', 'realnet-s01'], 'each model once'),
    (['realnet-s01', 'realnet-s02', '--baseline', 'cornet-s'], '--baseline cornet-s is not among --models'),
])
def test_compare_refuses_bad_input_in_one_line(models, message, tmp_path, capsys):
    assert cli.main(['compare', '--models', *models, '--out', str(tmp_path / 'out'), '-q']) == 2
    error = capsys.readouterr().err
    assert error.count('\n') == 1 and message in error
    assert not (tmp_path / 'out').exists()


def kept_file(path, record=None, **changes):
    """A kept score file as score_models writes it, for cornet-s on the IT benchmark."""
    benchmark = 'Gifford2022.IT-temporal_rsa'
    record = record or eeg_json('cornet-s', 'IT', np.full((10, len(TIMES)), 0.3))
    kept = {'model': 'cornet-s', 'data': {'things_eeg2': None, 'shen2019': None}, 'settings': {benchmark: {}},
            'results': [{'benchmark': benchmark, 'record': record}], **changes}
    path.write_text(kept if isinstance(kept, str) else json.dumps(kept))
    return path


def tampered(**changes):
    return {**eeg_json('cornet-s', 'IT', np.full((10, len(TIMES)), 0.3)), **changes}


@pytest.mark.parametrize('changes, problem', [
    ({'results': 'all good'}, 'not an object with model, data, settings and a list of results'),
    ({'results': ['Gifford2022.IT-temporal_rsa']}, 'a result without a benchmark name'),
    ({'record': tampered(score='high')}, 'Gifford2022.IT-temporal_rsa: score is "high", not a number'),
    ({'record': tampered(time_course={'dims': ['subject', 'time_bin'], 'values': [['x'] * len(TIMES)] * 10,
                                      'coords': {'subject': SUBJECTS, 'time_bin': TIMES.tolist()}})},
     'Gifford2022.IT-temporal_rsa: time_course values are not an array of numbers'),
    ({'record': tampered(benchmark='Gifford2022.V1-temporal_rsa')},
     'Gifford2022.IT-temporal_rsa: its record is of Gifford2022.V1-temporal_rsa'),
])
def test_a_tampered_kept_score_is_refused_naming_the_file(changes, problem, tmp_path):
    path = kept_file(tmp_path / 'cornet-s.json', **changes)
    data, settings = {'things_eeg2': None, 'shen2019': None}, {'Gifford2022.IT-temporal_rsa': {}}
    with pytest.raises(RealnetError) as refused:
        kept_records(path, 'cornet-s', data, settings)
    message = str(refused.value)
    assert message.startswith(f'{path}: not a kept score file of `brainscore compare` ({problem}')
    assert message.endswith('; delete it to score cornet-s afresh') and '\n' not in message
    intact = kept_file(tmp_path / 'intact.json')
    assert list(kept_records(intact, 'cornet-s', data, settings)) == ['Gifford2022.IT-temporal_rsa']


def test_compare_stops_at_a_tampered_kept_score_before_scoring(tmp_path, monkeypatch, capsys):
    def load_model(*args, **options):
        raise AssertionError('a model was loaded before the kept scores were read')

    monkeypatch.setattr('realnet_brainscore.models.load_model', load_model)
    scores = tmp_path / 'out' / 'scores'
    scores.mkdir(parents=True)
    kept = scores / 'cornet-s.json'
    kept.write_text('{"model": "cornet-s", "results": [')  # cut short, or edited by hand
    assert cli.main(['compare', '--models', 'realnet-s01', 'cornet-s', '--benchmarks', 'Gifford2022.IT-temporal_rsa',
                     '--out', str(tmp_path / 'out'), '-q']) == 2
    error = capsys.readouterr().err
    assert error.count('\n') == 1, error
    assert f'{kept}: not a kept score file of `brainscore compare` (not readable JSON' in error
    assert 'delete it to score cornet-s afresh' in error
    assert kept.read_text() == '{"model": "cornet-s", "results": ['
    assert [p.name for p in scores.iterdir()] == [kept.name]


def test_kept_records_without_a_kind_are_read_by_their_benchmark_or_scored_again(tmp_path):
    """Files from before records carried a kind: ours get it from their class; a Brain-Score
    benchmark's is scored again (its kind is not known without loading it)."""
    old = {key: value for key, value in eeg_json('cornet-s', 'IT', np.full((10, len(TIMES)), 0.3)).items()
           if key not in ('kind', 'area')}
    behaviour = {'model': 'cornet-s', 'benchmark': 'Rajalingham2018public-i2n', 'score': 0.4}
    path = kept_file(tmp_path / 'cornet-s.json', record=old, settings={old['benchmark']: {}, behaviour['benchmark']: {}})
    kept = json.loads(path.read_text())
    kept['results'].append({'benchmark': behaviour['benchmark'], 'record': behaviour})
    path.write_text(json.dumps(kept))
    data, settings = {'things_eeg2': None, 'shen2019': None}, {old['benchmark']: {}, behaviour['benchmark']: {}}
    records = kept_records(path, 'cornet-s', data, settings)
    assert list(records) == ['Gifford2022.IT-temporal_rsa']
    assert (records['Gifford2022.IT-temporal_rsa'].kind, records['Gifford2022.IT-temporal_rsa'].area) == ('EEG', 'IT')


def test_kept_scores_record_the_data_the_benchmarks_read(tmp_path, monkeypatch):
    """No folder and no environment variable: the EEG benchmarks read Brain-Score's hosted data, and
    the kept file says so; a folder from the environment is recorded resolved."""
    monkeypatch.delenv('REALNET_THINGS_EEG2', raising=False)
    monkeypatch.setenv('REALNET_SHEN2019', str(tmp_path / '.' / 'shen'))

    def no_model(*args, **options):
        raise RealnetError('no model here')

    monkeypatch.setattr('realnet_brainscore.models.load_model', no_model)
    score_models([Candidate('cornet-s')], tmp_path / 'scores', ['Gifford2022.IT-temporal_rsa'],
                         say=lambda text: None)
    data = json.loads((tmp_path / 'scores' / 'cornet-s.json').read_text())['data']
    assert data == {'things_eeg2': "Brain-Score's Gifford2022_test", 'shen2019': str(tmp_path / 'shen')}


def test_without_baseline_time_courses_the_report_tests_no_pair(tmp_path):
    """Two models with EEG time courses but a baseline without: the figure draws them, and neither
    the figure nor the report claims a test (the first two courses were once tested silently)."""
    results, base = planted_results()
    results = {'cornet-s': [SuiteResult('Gifford2022.IT-temporal_rsa', unavailable='no EEG here')],
               'realnet-s01': results['realnet-s01'],
               'realnet-s02': [SuiteResult('Gifford2022.IT-temporal_rsa', eeg_record('realnet-s02', 'IT', base + 0.2))]}
    report = write_report(tmp_path, results, 'cornet-s').read_text()
    assert 'Nothing to test: the cluster test needs the time courses of the baseline and another model.' in report
    assert 'eeg' not in json.loads((tmp_path / 'comparison.json').read_text())['statistics']
    assert (tmp_path / 'eeg_time_courses.png').stat().st_size > 10_000


def test_compare_does_not_replace_a_report_it_did_not_write(tmp_path, capsys):
    mine = tmp_path / 'notes' / 'report.md'
    mine.parent.mkdir()
    mine.write_text('my report\n')
    assert cli.main(['compare', '--models', 'cornet-s', '--out', str(mine.parent), '-q']) == 2
    error = capsys.readouterr().err
    assert error.count('\n') == 1 and f'{mine} exists and {mine.parent} holds no scores/ of an earlier comparison' in error
    assert mine.read_text() == 'my report\n' and [p.name for p in mine.parent.iterdir()] == ['report.md']
    (mine.parent / 'scores').mkdir()  # a folder an earlier comparison wrote: its report is replaced
    assert report_folder(mine.parent) == mine.parent
