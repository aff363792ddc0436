"""Several subjects in one pass (`train --together`): each subject's run is the one training it alone
writes, a killed pass resumes every subject, and settings that cannot share batches are refused."""
import contextlib
import json
from dataclasses import replace

import pytest
import torch

from realnet_brainscore import RealnetError, cli
from realnet_brainscore.training import train, train_together

pytestmark = pytest.mark.slow  # every test here trains networks

SUBJECTS = (1, 2)
TIMING_KEYS = ('seconds', 'images_per_second')  # the one part of a log that differs between two runs


@contextlib.contextmanager
def cpu_threads(n):
    """torch's CPU threads set to n (the results depend on it), then restored."""
    saved = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


@pytest.fixture(scope='module')
def alone(small, tmp_path_factory):
    """Each subject of the `small` runs trained on its own with one CPU thread (2 epochs)."""
    out = tmp_path_factory.mktemp('alone')
    with cpu_threads(1):
        for subject in SUBJECTS:
            train(small.source(subject), small.recipe(), small.runtime(out))
    return out


def assert_same_runs(first, second):
    """Same weights, bit for bit (the same operations in the same order on the CPU, each student with
    one thread), and the same log. (Another thread count sums in another order: rounding that Adam's
    per-element scaling turns into whole-step differences where a gradient is near zero.)"""
    for subject in SUBJECTS:
        for name in ('last.pt', 'best.pt'):
            a, b = (torch.load(out / f'sub-0{subject}' / name, weights_only=True) for out in (first, second))
            assert a['state_dict'].keys() == b['state_dict'].keys()
            for key, value in a['state_dict'].items():
                torch.testing.assert_close(b['state_dict'][key], value, rtol=0, atol=0, msg=f'sub-0{subject} {key}')
            assert {k: v for k, v in a['meta'].items()} == {k: v for k, v in b['meta'].items()}
        logs = [[{k: v for k, v in json.loads(line).items() if k not in TIMING_KEYS}
                 for line in (out / f'sub-0{subject}' / 'log.jsonl').read_text().splitlines()] for out in (first, second)]
        assert logs[0] == logs[1]


def test_together_one_after_another_gives_each_subject_what_training_it_alone_gives(alone, small, tmp_path, capsys):
    argv = small.train_args(tmp_path, '--together', subjects=('--subjects', '1,2'))
    with cpu_threads(1):
        assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert 'sub-01 epoch 2: train loss' in out and 'sub-02 epoch 2: train loss' in out
    assert_same_runs(alone, tmp_path)


class Killed(Exception):
    pass


def test_a_killed_pass_resumed_gives_what_training_alone_gives(alone, small, tmp_path):
    def kill_after_sub01_saved_epoch_1(record):
        if record['run'] == 'sub-01' and record['epoch'] == 1:
            raise Killed  # sub-01 has saved epoch 1, sub-02 has saved nothing
    sources = [small.source(subject) for subject in SUBJECTS]
    with cpu_threads(1), pytest.raises(Killed):
        train_together(sources, small.recipe(), small.runtime(tmp_path), on_epoch_end=kill_after_sub01_saved_epoch_1)
    assert (tmp_path / 'sub-01' / 'last.pt').is_file() and not (tmp_path / 'sub-02' / 'last.pt').exists()
    with cpu_threads(1):
        train_together(sources, small.recipe(), small.runtime(tmp_path, resume=True))
    assert_same_runs(alone, tmp_path)


@pytest.mark.parametrize('change, message', [
    ({'things_eeg2': 'elsewhere'}, 'runs trained together share every setting and the data; these differ: the data'),
    ({'subject': 1}, 'each subject once'),
    ({'subject': None, 'group': (1, 2)}, 'not group models'),
])
def test_runs_that_cannot_share_batches_are_refused_before_any_work(small, tmp_path, change, message):
    """(Every setting but the data is shared by construction: one recipe trains them all.)"""
    first = small.source(1)
    sources = [first, replace(first, **{'subject': 2, **change})]
    with pytest.raises(RealnetError, match=message):
        train_together(sources, small.recipe(), small.runtime(tmp_path))
    assert not any(tmp_path.iterdir())
