import json
import os
import subprocess
import sys

import numpy as np
import pytest

from factories import independent_forward, random_cornet, sha, stimulus_set, write_dicarlolab_checkpoint
from realnet_brainscore import cli
from realnet_brainscore.weights import WEIGHTS, WeightSource


def brainscore(*args, env=None):
    """The console script as a user runs it, in a fresh process."""
    return subprocess.run([sys.executable, '-m', 'realnet_brainscore.cli', *args], capture_output=True,
                          text=True, env={**os.environ, **(env or {})}, timeout=300)


@pytest.mark.parametrize('command', [[], ['models'], ['weights'], ['weights', 'list'], ['weights', 'fetch'],
                                     ['weights', 'import'], ['score']])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main([*command, '--help'])
    assert exit.value.code == 0
    assert 'usage: brainscore' in capsys.readouterr().out


def test_models_lists_every_identifier(capsys):
    assert cli.main(['models']) == 0
    listed = [line.split()[0] for line in capsys.readouterr().out.splitlines()]
    assert listed == ['cornet-s'] + [f'realnet-s{n:02d}' for n in range(1, 11)]


def test_score_without_weights_or_network_is_one_line_and_exit_2(realnet_home):
    result = brainscore('score', '--model', 'realnet-s01', '--benchmark', 'MajajHong2015public.IT-pls',
                        env={'REALNET_OFFLINE': '1'})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    spec = WEIGHTS['realnet-s01']
    for part in (spec.url, spec.digest, str(realnet_home / 'weights' / 'ReAlnet01_best_model_params.pt')):
        assert part in lines[0]
    assert not (realnet_home / 'weights').exists() or not any((realnet_home / 'weights').iterdir())


def test_a_failed_download_is_one_line_and_exit_2(monkeypatch, capsys):
    unreachable = WeightSource('realnet-s01', 'http://127.0.0.1:9/ReAlnet01.pt', 'sha1', 'ab' * 20, 'x')
    monkeypatch.setitem(WEIGHTS, 'realnet-s01', unreachable)
    assert cli.main(['weights', 'fetch', 'realnet-s01', '-q']) == 2
    error = capsys.readouterr().err
    assert error.count('\n') == 1 and 'http://127.0.0.1:9/ReAlnet01.pt' in error and 'download failed' in error


def test_verbose_shows_the_failure_underneath_ours(monkeypatch, capsys):
    """-v prints the chain: our one line, and the network error it was raised from."""
    unreachable = WeightSource('realnet-s01', 'http://127.0.0.1:9/ReAlnet01.pt', 'sha1', 'ab' * 20, 'x')
    monkeypatch.setitem(WEIGHTS, 'realnet-s01', unreachable)
    assert cli.main(['weights', 'fetch', 'realnet-s01', '-q', '-v']) == 2
    error = capsys.readouterr().err
    assert 'URLError' in error and 'Connection refused' in error, error
    assert 'The above exception was the direct cause of the following exception' in error
    assert error.strip().splitlines()[-1].startswith('brainscore: error: realnet-s01: weights file')


def test_import_of_a_wrong_file_is_refused(tmp_path, realnet_home):
    wrong = tmp_path / 'ReAlnet01_best_model_params.pt'
    wrong.write_bytes(b'\x80not the published file')
    result = brainscore('weights', 'import', 'realnet-s01', str(wrong))
    assert result.returncode == 2 and result.stderr.count('\n') == 1
    assert 'expected 05e4e401e8734b97e561aad306fc584b7e027225 for realnet-s01' in result.stderr
    assert list((realnet_home / 'weights').iterdir()) == []


def test_verbose_shows_the_traceback(tmp_path, capsys):
    missing = tmp_path / 'absent.pt'
    assert cli.main(['weights', 'import', 'realnet-s01', str(missing)]) == 2
    assert 'Traceback' not in capsys.readouterr().err
    assert cli.main(['weights', 'import', 'realnet-s01', str(missing), '-v']) == 2
    assert 'Traceback' in capsys.readouterr().err


def test_import_then_list_shows_verified(tmp_path, monkeypatch, capsys):
    path = tmp_path / 'cornet_s-test.pth'
    write_dicarlolab_checkpoint(path, random_cornet(seed=30))
    source = WeightSource('cornet-s', 'http://127.0.0.1:9/cornet_s-test.pth', 'sha256',
                                       sha(path, 'sha256')[:8], 'test')
    monkeypatch.setitem(WEIGHTS, 'cornet-s', source)
    assert cli.main(['weights', 'list']) == 0
    assert 'cornet-s      missing' in capsys.readouterr().out
    assert cli.main(['weights', 'import', 'cornet-s', str(path)]) == 0
    assert cli.main(['weights', 'list']) == 0
    assert 'cornet-s      verified' in capsys.readouterr().out


def test_unknown_benchmark_is_one_line(tmp_path, capsys):
    path = tmp_path / 'c.pth'
    write_dicarlolab_checkpoint(path, random_cornet(seed=31))
    assert cli.main(['score', '--model', 'cornet-s', '--weights', str(path), '--benchmark', 'NoSuch.bench']) == 2
    error = capsys.readouterr().err
    assert error.strip() == "brainscore: error: unknown benchmark 'NoSuch.bench': no Brain-Score plugin registers it"


class MeanITBenchmark:
    """A local stand-in for a Brain-Score benchmark: records IT and scores its mean activation."""

    def __init__(self, stimuli):
        self.stimuli = stimuli

    def preallocate_memory(self, candidate):
        pass

    def __call__(self, candidate):
        from brainscore_core.metrics import Score
        candidate.start_recording('IT', [(70, 170)])
        activations = candidate.look_at(self.stimuli)
        score = Score(float(activations.values.mean()))
        score.attrs['raw'] = Score(activations.values.mean(axis=-1).ravel())
        score.attrs['ceiling'] = Score(0.5)
        return score


def test_score_runs_the_benchmark_on_the_model_and_writes_json(tmp_path, monkeypatch):
    import brainscore_vision
    network = random_cornet(seed=32)
    path = tmp_path / 'c.pth'
    write_dicarlolab_checkpoint(path, network)
    stimuli = stimulus_set(tmp_path / 'images', 2, identifier='realnet-test-cli', seed=3)
    asked = []
    monkeypatch.setattr(brainscore_vision, 'load_benchmark',
                        lambda identifier: asked.append(identifier) or MeanITBenchmark(stimuli))
    out = tmp_path / 'out' / 'score.json'
    assert cli.main(['score', '--model', 'cornet-s', '--weights', str(path), '--benchmark', 'Local.IT-mean',
                     '--batch-size', '2', '--json', str(out)]) == 0
    record = json.loads(out.read_text())
    assert asked == ['Local.IT-mean']
    assert record['model'] == f'cornet-s+{sha(path, "sha256")[:8]}' and record['benchmark'] == 'Local.IT-mean'
    it = independent_forward(network, stimuli)['IT'].flatten(1).numpy()
    assert record['score'] == pytest.approx(float(it.mean()), rel=1e-4)
    np.testing.assert_allclose(record['raw'], it.mean(axis=1), rtol=1e-4)
    assert record['ceiling'] == 0.5


# Hostile input (issue 12): every refusal is one line and exit 2, before any work, and destroys nothing.

def refusal(argv, capsys) -> str:
    """The one line a refused command prints (asserting exit 2 and one line)."""
    assert cli.main(argv) == 2
    error = capsys.readouterr().err
    assert error.count('\n') == 1 and error.startswith('brainscore: error: '), error
    return error


def temporal_record(model='m', values=None, **changes):
    """A small temporal RSA score record in the form `brainscore score --json` writes it."""
    times = [0.0, 0.01, 0.02]
    record = {'model': model, 'benchmark': 'Gifford2022.IT-temporal_rsa', 'score': 0.5, 'window': [0.0, 0.03],
              'time_course': {'dims': ['subject', 'time_bin'], 'values': values or [[0.1, 0.2, 0.3]] * 3,
                              'coords': {'subject': ['sub-01', 'sub-02', 'sub-03'], 'time_bin': times}},
              'ceiling_time_course': {'dims': ['bound', 'time_bin'], 'values': [[0.4] * 3, [0.6] * 3],
                                      'coords': {'bound': ['lower', 'upper'], 'time_bin': times}}}
    return {**record, **changes}


def test_report_refuses_to_write_over_its_scores_file(tmp_path, capsys):
    scores = tmp_path / 'a.json'
    scores.write_text(json.dumps(temporal_record()))
    before = scores.read_bytes()
    error = refusal(['report', '--scores', str(scores), '--out', str(tmp_path / '.' / 'a.json')], capsys)
    assert 'a.json is also an input of this command' in error
    assert scores.read_bytes() == before


def test_report_replaces_an_existing_figure_only_with_force(tmp_path, capsys):
    scores, out = tmp_path / 'a.json', tmp_path / 'figure.png'
    scores.write_text(json.dumps(temporal_record()))
    out.write_bytes(b'a figure of my own')
    assert f'{out} exists; pass --force' in refusal(['report', '--scores', str(scores), '--out', str(out)], capsys)
    assert out.read_bytes() == b'a figure of my own'
    assert cli.main(['report', '--scores', str(scores), '--out', str(out), '--force']) == 0
    assert out.read_bytes().startswith(b'\x89PNG')


def _without(record, key):
    return {k: v for k, v in record.items() if k != key}


def _course(**changes):
    return {**temporal_record()['time_course'], **changes}


@pytest.mark.parametrize('content, problem', [
    ([temporal_record()], 'it holds a JSON list, not an object with model, benchmark and score'),
    ('IT 0.5', 'it holds a JSON string'),
    (_without(temporal_record(), 'score'), 'it has no score'),
    (temporal_record(score='high'), 'score is "high", not a number'),
    (temporal_record(score=True), 'score is true, not a number'),
    (temporal_record(model=['m']), 'model is ["m"], not a name'),
    (_without(temporal_record(), 'ceiling_time_course'), 'a temporal RSA score without ceiling_time_course'),
    (temporal_record(time_course=_without(_course(), 'coords')), "time_course has no coords for its dim 'subject'"),
    (temporal_record(time_course=[[0.1, 0.2, 0.3]]), 'time_course is not a labelled array'),
    (temporal_record(time_course=_course(dims=['time_bin', 'subject'])), "time_course has dims"),
    (temporal_record(values=[['0.1', '0.2', '0.3']] * 3), 'time_course values are not an array of numbers'),
    (temporal_record(values=[[0.1, 0.2, 0.3], [0.1]]), 'time_course values are not an array of numbers'),
    (temporal_record(values=[[0.1, 0.2]] * 3), 'time_course values have shape (3, 2), its coords (3, 3)'),
    (temporal_record(ceiling_time_course={**temporal_record()['ceiling_time_course'], 'values': [[0.4] * 3] * 2,
                                          'coords': {'bound': ['lower', 'upper'], 'time_bin': ['a', 'b', 'c']}}),
     'ceiling_time_course has time bins that are not numbers'),
    (temporal_record(window='50-350 ms'), 'window is "50-350 ms", not [start, stop]'),
    ({'model': 'm', 'benchmark': 'Shen2019.V1-rsa', 'score': 0.4,
      'raw': {'dims': ['subject'], 'coords': {'subject': ['sub-01']}, 'values': ['x']}},
     'raw values are not an array of numbers'),
    ({'model': 'm', 'benchmark': 'Shen2019.V1-rsa', 'score': 0.4,  # once a traceback in the paired t-test
      'raw': {'dims': ['subject'], 'coords': {'subject': ['sub-01', 'sub-02']}, 'values': [[0.1, 0.2], [0.3, 0.4]]}},
     'raw values have shape (2, 2), its coords (2,)'),
    ({'model': 'm', 'benchmark': 'Shen2019.V1-rsa', 'score': 0.4, 'raw': {'dims': ['subject'], 'values': 0.3}},
     'raw values have 0 dimension(s), its dims 1'),
    (temporal_record(time_course={**temporal_record()['time_course'], 'coords': {  # once a traceback in the cluster test
        'subject': ['sub-01', 'sub-02', 'sub-03'], 'time_bin': [[0.0], [0.1], [0.2]]}}),
     "time_course has coords for 'time_bin' that are not one label per position"),
])
def test_report_refuses_a_malformed_score_file_in_one_line(content, problem, tmp_path, capsys):
    scores, out = tmp_path / 'bad.json', tmp_path / 'figure.png'
    scores.write_text(json.dumps(content))
    error = refusal(['report', '--scores', str(scores), '--out', str(out)], capsys)
    assert f'{scores}: not the score of one benchmark as `score --benchmark B --json` writes it: {problem}' in error
    assert not out.exists()


@pytest.mark.parametrize('text, problem', [
    ('{"model": "m", ', 'not a readable score file (Expecting'),
    ('[' * 100_000 + ']' * 100_000, 'not a readable score file (maximum recursion depth'),
])
def test_report_refuses_a_file_that_is_not_json(text, problem, tmp_path, capsys):
    scores = tmp_path / 'bad.json'
    scores.write_text(text)
    error = refusal(['report', '--scores', str(scores), '--out', str(tmp_path / 'f.png')], capsys)
    assert f'{scores}: {problem}' in error


@pytest.mark.parametrize('second, problem', [
    ({'model': 'n', 'benchmark': 'MajajHong2015public.IT-pls', 'score': 0.3},
     'MajajHong2015public.IT-pls is neither a temporal RSA nor a Shen 2019 ROI benchmark'),
    ({'model': 'n', 'benchmark': 'Shen2019.V1-rsa', 'score': 0.3}, 'an fMRI score among EEG ones'),
])
def test_report_refuses_scores_it_cannot_draw_together(second, problem, tmp_path, capsys):
    first, other = tmp_path / 'first.json', tmp_path / 'second.json'
    first.write_text(json.dumps(temporal_record()))
    other.write_text(json.dumps(second))
    assert f'{other}: {problem}' in refusal(['report', '--scores', str(first), str(other),
                                             '--out', str(tmp_path / 'f.png')], capsys)


def test_report_refuses_time_courses_on_other_time_points(tmp_path, capsys):
    shorter = temporal_record('n', values=[[0.1, 0.2]] * 3)
    shorter['time_course']['coords']['time_bin'] = shorter['ceiling_time_course']['coords']['time_bin'] = [0.0, 0.01]
    shorter['ceiling_time_course']['values'] = [[0.4] * 2, [0.6] * 2]
    files = [tmp_path / 'm.json', tmp_path / 'n.json']
    for file, record in zip(files, (temporal_record(), shorter)):
        file.write_text(json.dumps(record))
    error = refusal(['report', '--scores', *map(str, files), '--out', str(tmp_path / 'f.png')], capsys)
    assert 'IT: n and m were scored on other time points' in error and not (tmp_path / 'f.png').exists()


@pytest.fixture
def model_never_loads(monkeypatch):
    """Fails the test if `score` loads its model (the refusals must come before that)."""
    def load_model(*args, **options):
        raise AssertionError('the model was loaded before the outputs were checked')
    monkeypatch.setattr('realnet_brainscore.models.load_model', load_model)


@pytest.mark.parametrize('options, problem', [
    (['--json', '{folder}'], '{folder} is a folder; name a file to write'),
    (['--json', '{mine}'], '{mine} exists; pass --force to replace it'),
    (['--json', '{mine}/score.json'], '{mine}: cannot be a folder, {mine} is a file'),
    (['--benchmark', 'Gifford2022.IT-temporal_rsa', '--plot', '{folder}'], '{folder} is a folder; name a file'),
    (['--benchmark', 'Gifford2022.IT-temporal_rsa', '--plot', '{mine}'], '{mine} exists; pass --force'),
    (['--plot', '{mine}'], '{mine}: cannot be a folder, {mine} is a file'),  # the suite's figures go into a folder
    (['--plot', '{folder}'], 'eeg_time_courses.png exists; pass --force'),
    (['--benchmark', 'Shen2019.V1-rsa', '--plot', '{new}'], '--plot draws temporal RSA time courses; Shen2019.V1-rsa '
                                                           'has none'),
    (['--benchmark', 'MajajHong2015public.IT-pls', '--plot', '{new}'], 'MajajHong2015public.IT-pls has none'),
])
def test_score_refuses_its_outputs_before_loading_the_model(options, problem, model_never_loads, tmp_path, capsys):
    folder, mine = tmp_path / 'folder', tmp_path / 'mine.txt'
    (folder / 'eeg_time_courses.png').parent.mkdir()
    (folder / 'eeg_time_courses.png').write_bytes(b'my figure')
    mine.write_text('my notes')
    paths = {'folder': folder, 'mine': mine, 'new': tmp_path / 'new.png'}
    # realnet-s01 without its weights cached would first download them: minutes, were it reached
    argv = ['score', '--model', 'realnet-s01', '-q'] + [o.format(**paths) for o in options]
    assert problem.format(**paths) in refusal(argv, capsys)
    assert mine.read_text() == 'my notes' and (folder / 'eeg_time_courses.png').read_bytes() == b'my figure'
    assert sorted(p.name for p in tmp_path.iterdir()) == ['folder', 'mine.txt'] and len(list(folder.iterdir())) == 1


def test_score_refuses_a_realnet_home_it_cannot_write_before_loading(model_never_loads, tmp_path, monkeypatch,
                                                                     capsys):
    blocker = tmp_path / 'a-file'
    blocker.write_text('')
    monkeypatch.setenv('REALNET_HOME', str(blocker / 'home'))
    error = refusal(['score', '--model', 'realnet-s01', '--benchmark', 'Gifford2022.IT-temporal_rsa', '-q'], capsys)
    assert f'{blocker / "home"}: cannot be a folder, {blocker} is a file' in error


@pytest.mark.parametrize('command', [['demo'], ['synth'],
                                     ['compare', '--models', 'cornet-s', '--benchmarks', 'Shen2019.V1-rsa']])
def test_output_folder_that_is_a_file_is_refused_at_once(command, model_never_loads, tmp_path, capsys):
    mine = tmp_path / 'mine.txt'
    mine.write_text('my notes')
    for out in (mine, mine / 'out'):
        error = refusal([*command, '--out', str(out), '-q'], capsys)
        assert str(mine) in error and ('is a file' in error or 'is not an empty folder' in error)
    assert mine.read_text() == 'my notes' and list(tmp_path.iterdir()) == [mine]


@pytest.mark.parametrize('option, problem', [(['--seed', '-1'], '--seed -1: expected a whole number ≥ 0'),
                                             (['--noise', 'nan'], '--noise nan: expected a number ≥ 0'),
                                             (['--noise', '-1'], '--noise -1.0: expected a number ≥ 0'),
                                             (['--subjects', '11'], '--subjects 11: THINGS-EEG2 has subjects 1 to 10')])
def test_synth_refuses_bad_numbers_before_writing(option, problem, tmp_path, capsys):
    assert problem in refusal(['synth', '--out', str(tmp_path / 'out'), *option], capsys)
    assert not (tmp_path / 'out').exists()


def test_library_errors_name_the_setting_and_the_command_line_its_flag(tmp_path, capsys):
    from realnet_brainscore import RealnetError, submission
    from realnet_brainscore.cli.options import with_flags
    weights = tmp_path / 'w.pt'
    weights.write_bytes(b'')
    with pytest.raises(RealnetError, match='^`weights` needs `weights_url`: the website fetches weights'):
        submission.export_model('realnet-s01', tmp_path / 'x.zip', weights=weights)
    assert cli.main(['submission', 'export', '--model', 'realnet-s01', '--weights', str(weights),
                     '--out', str(tmp_path / 'x.zip')]) == 2
    assert capsys.readouterr().err.startswith('brainscore: error: --weights needs --weights-url: the website fetches')
    assert with_flags('unknown `method` x; `other` and `brainscore weights import`') == \
        'unknown --rdm x; `other` and `brainscore weights import`'


def test_a_bad_flag_is_one_line_naming_the_help(capsys):
    """argparse's refusals are one line and exit 2 like every other error (its usage block is --help's),
    also for a subcommand's flag and for a value that its check refuses before building it."""
    for argv, expected in ((['scor'], "brainscore: error: argument COMMAND: invalid choice: 'scor'"),
                           (['train', '--subjects', '1-1000000000', '--out', 'x'],
                            'brainscore train: error: argument --subjects: 1000000000 subjects'),
                           (['weights', 'fetch', '--bogus'], 'brainscore: error: unrecognized arguments: --bogus')):
        with pytest.raises(SystemExit) as exit:
            cli.main(argv)
        error = capsys.readouterr().err
        assert exit.value.code == 2 and error.count('\n') == 1 and error.startswith(expected), error
        assert error.rstrip().endswith('--help)')
