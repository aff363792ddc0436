"""Students stepped in worker processes (`train --together` on the CPU): their updates reach this
process through shared memory and equal steps taken here, and a worker's failure is raised here."""
import copy
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from realnet_brainscore import RealnetError
from realnet_brainscore.training.students import Students


class Student:
    """What Students needs of an Aligner: a network and its Adam (fused, as training uses it)."""

    def __init__(self, seed: int):
        torch.manual_seed(seed)
        self.network = torch.nn.Sequential(torch.nn.Linear(6, 4), torch.nn.BatchNorm1d(4))
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=0.1, fused=True)


def adam_step(student, target, x):
    """A training step: the loss before it, as a tensor."""
    loss = ((student.network(x) - target) ** 2).mean()
    student.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    student.optimizer.step()
    return {'loss': loss.detach()}


def refuse(student, own):
    if own == 'bad':
        raise RealnetError('student 2 refuses')
    return own


def die(student, own):
    os._exit(3)


@pytest.fixture
def one_thread():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers' setting: results depend on it
    yield
    torch.set_num_threads(saved)


def test_steps_in_worker_processes_update_this_processes_students_as_steps_here_do(one_thread):
    """Three students over two workers, three steps: the same losses, and in this process the same
    weights, batch-norm statistics and Adam state as copies stepped here, bit for bit."""
    students = [Student(seed) for seed in range(3)]
    here = copy.deepcopy(students)
    generator = torch.Generator().manual_seed(0)
    batches = [(torch.randn(8, 6, generator=generator), [torch.randn(8, 4, generator=generator) for _ in range(3)])
               for _ in range(3)]
    with Students(students, 'cpu', workers=2) as pool:
        assert pool.workers == 2 and len(pool.processes) == 2
        remote = [pool.map(adam_step, targets, x) for x, targets in batches]
    local = [[adam_step(s, t, x) for s, t in zip(here, targets)] for x, targets in batches]
    assert [[r['loss'].item() for r in step] for step in remote] == [[r['loss'].item() for r in step] for step in local]
    for student, copied in zip(students, here):
        for a, b in zip(student.network.state_dict().values(), copied.network.state_dict().values()):
            torch.testing.assert_close(a, b, rtol=0, atol=0)
        assert student.network[1].num_batches_tracked.item() == 3
        mine, theirs = student.optimizer.state_dict()['state'], copied.optimizer.state_dict()['state']
        for key in theirs:
            for name, value in theirs[key].items():
                torch.testing.assert_close(mine[key][name], value, rtol=0, atol=0, msg=f'{key} {name}')


def test_a_students_error_in_a_worker_is_raised_here_and_the_workers_end():
    with pytest.raises(RealnetError, match='^student 2 refuses$'):
        with Students([Student(0), Student(1)], 'cpu', workers=2) as pool:
            processes = pool.processes
            assert pool.map(refuse, ['fine', 'also fine']) == ['fine', 'also fine']
            pool.map(refuse, ['fine', 'bad'])
    assert not any(process.is_alive() for process in processes)


def test_a_worker_that_dies_is_one_clear_error():
    with Students([Student(0), Student(1)], 'cpu', workers=2) as pool:
        with pytest.raises(RealnetError, match=r'a student worker process ended \(exit code 3\)'):
            pool.map(die, [None, None])


def test_one_worker_or_a_gpu_steps_here():
    students = [Student(0), Student(1)]
    for workers, device in ((1, 'cpu'), (2, 'cuda')):
        with Students(students, device, workers=workers) as pool:
            assert not pool.processes
            assert pool.map(refuse, ['a', 'b']) == ['a', 'b']


KILLED_PARENT = '''
import os, signal, sys
sys.path.insert(0, sys.argv[1])
from test_students import Student
from realnet_brainscore.training.students import Students
pool = Students([Student(0), Student(1)], 'cpu', workers=2).__enter__()
print(*(process.pid for process in pool.processes), flush=True)
os.kill(os.getpid(), signal.SIGKILL)
'''


def test_workers_of_a_killed_parent_end_with_it():
    result = subprocess.run([sys.executable, '-c', KILLED_PARENT, str(Path(__file__).parent)], capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == -signal.SIGKILL, result.stderr
    pids = [int(pid) for pid in result.stdout.split()]
    assert len(pids) == 2
    deadline = time.monotonic() + 30
    while any(Path(f'/proc/{pid}').exists() and 'Z' not in _state(pid) for pid in pids):
        assert time.monotonic() < deadline, 'a worker outlived its killed parent'
        time.sleep(0.2)


def _state(pid: int) -> str:
    """The process state letter from /proc (Z: ended, waiting to be reaped); '' once it is gone."""
    try:
        return Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return 'Z'
