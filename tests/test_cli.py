import json
import os
import subprocess
import sys

import numpy as np
import pytest

from factories import independent_forward, random_cornet, sha, stimulus_set, write_dicarlolab_checkpoint
from realnet_brainscore import cli
from realnet_brainscore import weights as weight_table


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
    spec = weight_table.WEIGHTS['realnet-s01']
    for part in (spec.url, spec.digest, str(realnet_home / 'weights' / 'ReAlnet01_best_model_params.pt')):
        assert part in lines[0]
    assert not (realnet_home / 'weights').exists() or not any((realnet_home / 'weights').iterdir())


def test_a_failed_download_is_one_line_and_exit_2(monkeypatch, capsys):
    unreachable = weight_table.WeightSource('realnet-s01', 'http://127.0.0.1:9/ReAlnet01.pt', 'sha1', 'ab' * 20, 'x')
    monkeypatch.setitem(weight_table.WEIGHTS, 'realnet-s01', unreachable)
    assert cli.main(['weights', 'fetch', 'realnet-s01', '-q']) == 2
    error = capsys.readouterr().err
    assert error.count('\n') == 1 and 'http://127.0.0.1:9/ReAlnet01.pt' in error and 'download failed' in error


def test_import_of_a_wrong_file_is_refused(tmp_path, realnet_home):
    wrong = tmp_path / 'ReAlnet01_best_model_params.pt'
    wrong.write_bytes(b'\x80not the published file')
    result = brainscore('weights', 'import', 'realnet-s01', str(wrong))
    assert result.returncode == 2 and result.stderr.count('\n') == 1
    assert 'expected 05e4e401e8734b97e561aad306fc584b7e027225 for realnet-s01' in result.stderr
    assert list((realnet_home / 'weights').iterdir()) == []


def test_verbose_shows_the_traceback(tmp_path):
    missing = tmp_path / 'absent.pt'
    quiet = brainscore('weights', 'import', 'realnet-s01', str(missing))
    loud = brainscore('weights', 'import', 'realnet-s01', str(missing), '-v')
    assert quiet.returncode == loud.returncode == 2
    assert 'Traceback' not in quiet.stderr and 'Traceback' in loud.stderr


def test_import_then_list_shows_verified(tmp_path, monkeypatch, capsys):
    path = tmp_path / 'cornet_s-test.pth'
    write_dicarlolab_checkpoint(path, random_cornet(seed=30))
    source = weight_table.WeightSource('cornet-s', 'http://127.0.0.1:9/cornet_s-test.pth', 'sha256',
                                       sha(path, 'sha256')[:8], 'test')
    monkeypatch.setitem(weight_table.WEIGHTS, 'cornet-s', source)
    assert cli.main(['weights', 'list']) == 0
    assert 'cornet-s      missing' in capsys.readouterr().out
    assert cli.main(['weights', 'import', 'cornet-s', str(path)]) == 0
    assert cli.main(['weights', 'list']) == 0
    assert 'cornet-s      verified' in capsys.readouterr().out


def test_unknown_benchmark_is_one_line(tmp_path):
    path = tmp_path / 'c.pth'
    write_dicarlolab_checkpoint(path, random_cornet(seed=31))
    result = brainscore('score', '--model', 'cornet-s', '--weights', str(path), '--benchmark', 'NoSuch.bench')
    assert result.returncode == 2
    assert result.stderr.strip() == "brainscore: error: unknown benchmark 'NoSuch.bench': no Brain-Score plugin registers it"


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
