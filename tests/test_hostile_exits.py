"""One exit policy (issue 26, rule 6): every error a user can cause is one line and exit 2 (disk,
limits, memory, deeply nested JSON, third-party errors at the boundary); a closed stdout ends
quietly (141); SIGTERM ends a command as Ctrl-C does (cleanup, one line, 143); Ctrl-C is 130."""
import contextlib
import errno
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import realnet_brainscore
from factories import write_dicarlolab_checkpoint
from realnet_brainscore import RealnetError, backbones, cli
from realnet_brainscore.cli import models, train
from realnet_brainscore.cornet import CORnetS
from realnet_brainscore.synthetic import Design, write_things_eeg2
from realnet_brainscore.training import checkpointing, data

SIZE = 32
ROOT = Path(realnet_brainscore.__file__).parents[1]  # this checkout, for the commands run as processes
SIZE_FLAGS = '--image-size, --batch-size, --pool, --workers'


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """70 training images (more than one decoder block of 64: a cache build starts two decoder
    processes) of 2 in-silico subjects, and a CORnet-S to start from."""
    root = tmp_path_factory.mktemp('exits')
    things = write_things_eeg2(root / 'things', Design(subjects=2, concepts=14, images_per_concept=5,
                                                       test_images=2, image_size=SIZE))
    write_dicarlolab_checkpoint(root / 'cornet.pth', CORnetS())
    return things, root / 'cornet.pth'


def _train(things, weights, out, *extra) -> list[str]:
    return ['train', '--subject', '2', '--things-eeg2', str(things), '--out', str(out), '--cornet-weights',
            str(weights), '--image-size', str(SIZE), '--epochs', '1', '-q', *extra]


def _one_line(capsys, status: int, arguments, expected: int = 2) -> str:
    assert status == expected, arguments
    error = capsys.readouterr().err
    assert error.count('\n') == 1, error
    return error


def _models_raising(monkeypatch, problem):
    """`brainscore models` with its work replaced by ``problem()`` (which raises)."""
    monkeypatch.setattr(models, 'run', lambda args: problem())


# ---- disk, limits and memory: exit 2, one line ----------------------------------------------------

DISK = {errno.ENOSPC: 'free some space', errno.EDQUOT: 'quota', errno.EFBIG: r'file-size limit \(ulimit -f\)',
        errno.EROFS: 'writable', errno.EIO: 'disk or network file system failed', errno.EMFILE: 'ulimit -n',
        errno.EACCES: 'permissions', errno.ENAMETOOLONG: 'shorter names'}


def test_disk_and_limit_errors_without_a_file_name_are_one_line(tmp_path, capsys, monkeypatch):
    """A write fails as a full disk, a quota, `ulimit -f`, a read-only or failing disk would make it
    fail: the error names no file (write errors never do). An errno no user causes stays unexpected."""
    for number, advice in {**DISK, errno.EBADF: None}.items():
        arguments = ['synth', '--out', str(tmp_path / f'synth-{number}'), '--subjects', '1', '--concepts', '1',
                     '--images-per-concept', '1', '--test-images', '1', '--image-size', str(SIZE)]
        def fail(*args, number=number, **kwargs):
            raise OSError(number, os.strerror(number))
        monkeypatch.setattr(Image.Image, 'save', fail)
        status = cli.main(arguments)
        if advice is None:
            assert status == 1 and 'brainscore: unexpected OSError' in capsys.readouterr().err
            continue
        error = _one_line(capsys, status, errno.errorcode[number])
        assert re.fullmatch(rf'brainscore: error: {re.escape(os.strerror(number))}; .*{advice}.*\n', error), error


def test_memory_errors_are_one_line_naming_the_size_flags(capsys, monkeypatch):
    """numpy's and Python's MemoryError, torch's CPU allocator (a real failed allocation of 16 TiB)
    and CUDA errors, and ENOMEM from the system: each says what could not be allocated."""
    def torch_cpu():
        torch.empty(2 ** 44, dtype=torch.uint8)

    def torch_cuda():
        raise torch.cuda.OutOfMemoryError('CUDA out of memory. Tried to allocate 20.00 GiB. GPU 0 has a total '
                                          'capacity of 79.10 GiB of which 1.2 GiB is free.')

    def no_memory():
        raise MemoryError()

    def system():
        raise OSError(errno.ENOMEM, os.strerror(errno.ENOMEM))
    cases = {lambda: np.empty(2 ** 50): r'Unable to allocate 8.00 PiB for an array with shape \(1125899906842624,\)',
             no_memory: 'MemoryError', torch_cpu: 'tried to allocate 17592186044416 bytes',
             torch_cuda: 'Tried to allocate 20.00 GiB', system: 'Cannot allocate memory'}
    for problem, what in cases.items():
        _models_raising(monkeypatch, problem)
        error = _one_line(capsys, cli.main(['models']), what)
        assert re.fullmatch(rf'brainscore: error: out of memory \({what}[^;]*\); lower the sizes asked for '
                            rf'\({SIZE_FLAGS}\), .*\n', error), error


def test_errors_while_parsing_the_arguments_are_under_the_policy(capsys, monkeypatch):
    """A flag's value check that runs out of memory (a range of subjects, say), or Ctrl-C then."""
    def exhausted(text):
        raise MemoryError()
    monkeypatch.setattr(train, 'subject_range', exhausted)
    error = _one_line(capsys, cli.main(['train', '--subjects', '1-99999999999', '--out', 'x']), 'parsing')
    assert error.startswith('brainscore: error: out of memory (MemoryError)') and SIZE_FLAGS in error

    def interrupted(text):
        raise KeyboardInterrupt
    monkeypatch.setattr(train, 'subject_range', interrupted)
    assert _one_line(capsys, cli.main(['train', '--subjects', '1', '--out', 'x']), 'ctrl-c', 130) \
        == 'brainscore: interrupted\n'


def test_deeply_nested_json_is_one_line(realnet_home, tmp_path, capsys):
    """JSON nested deeper than the parser's recursion (a RecursionError, not a ValueError) in a run's
    log and in the plugin install record."""
    deep = '[' * 100_000 + ']' * 100_000
    log = tmp_path / 'log.jsonl'
    log.write_text(deep + '\n')
    with pytest.raises(RealnetError, match=rf'{log}: not a log written by brainscore train \(maximum recursion'):
        checkpointing.read_log(log, 1)
    realnet_home.mkdir()
    (realnet_home / 'installed-plugins.json').write_text(deep)
    error = _one_line(capsys, cli.main(['plugins', 'uninstall']), 'manifest')
    assert re.fullmatch(r'brainscore: error: .*installed-plugins.json: not an install record this version reads '
                        r'\(maximum recursion depth exceeded.*\); remove the plugin folders by hand.*\n', error), error


def test_third_party_errors_at_the_boundary_are_one_line(tiny, tmp_path, capsys):
    """timm refuses a name that looks like a path with a ValueError; PIL an image it cannot read
    (here in a train run's image cache) with an error of its own."""
    with pytest.raises(RealnetError, match=r"`backbone` timm:\.\./x: Model name '\.\./x' has no source prefix"):
        backbones.create('timm:../x')
    things, weights = tiny
    damaged = tmp_path / 'things'
    shutil.copytree(things, damaged)
    image = next((damaged / 'image_set' / 'training_images').rglob('*.jpg'))
    image.write_bytes(image.read_bytes()[:40])  # a JPEG cut short in its header
    error = _one_line(capsys, cli.main(_train(damaged, weights, tmp_path / 'out', '--workers', '1')), 'PIL')
    assert re.fullmatch(rf'brainscore: error: {image}: damaged image \(\w+: .*\); replace it with the published image\n', error), error
    assert not (tmp_path / 'out').exists()


def test_a_newline_in_a_message_stays_one_line(capsys, monkeypatch):
    """A file name from a data set's metadata may hold a newline: the error is still one line."""
    for error in (RealnetError('images/a\nb.jpg: this image lies outside its data folder'),
                  FileNotFoundError(2, 'No such file or directory', 'x\ny.jpg')):
        _models_raising(monkeypatch, lambda: (_ for _ in ()).throw(error))
        line = _one_line(capsys, cli.main(['models']), type(error).__name__)
        assert r'a\nb.jpg' in line or r'x\ny.jpg' in line


def test_text_from_errors_is_escaped_with_and_without_traceback(capsys, monkeypatch):
    """A message quoting a file (an escape sequence, a carriage return, a bell) is shown, not acted
    on by the terminal: in the one line, in the unexpected line and in every line of -v's traceback."""
    hostile = 'name\x1b]0;owned\x07\r\x1b[2K'
    shown = r'name\x1b]0;owned\x07'  # first_line, for the unexpected line, ends at the carriage return
    for kind, status, prefix in ((RealnetError, 2, 'brainscore: error: '), (ValueError, 1, 'brainscore: unexpected')):
        def fail(kind=kind):
            raise kind(hostile)
        _models_raising(monkeypatch, fail)
        error = _one_line(capsys, cli.main(['models']), kind.__name__, status)
        assert error.startswith(prefix) and shown in error and '\x1b' not in error and '\r' not in error
        assert cli.main(['models', '-v']) == status
        traceback = capsys.readouterr().err
        assert 'Traceback' in traceback and shown in traceback and not re.search('[\x00-\x09\x0b-\x1f]', traceback)


# ---- pipes ---------------------------------------------------------------------------------------

@contextlib.contextmanager
def _closed_pipe(monkeypatch, stream: str):
    """sys.stdout or sys.stderr a pipe whose reader has gone, as under `| head` once head exits."""
    reader, writer = os.pipe()
    os.close(reader)
    pipe = open(writer, 'w')
    monkeypatch.setattr(sys, stream, pipe)
    try:
        yield
    finally:
        monkeypatch.undo()
        pipe.close()  # its fd now leads to /dev/null: nothing fails here either


def test_a_closed_stdout_ends_quietly_with_141(monkeypatch, capfd):
    with _closed_pipe(monkeypatch, 'stdout'):
        assert cli.main(['models']) == 141
    assert capfd.readouterr().err == ''


def test_a_closed_stderr_keeps_the_exit_status(tmp_path, monkeypatch):
    with _closed_pipe(monkeypatch, 'stderr'):
        assert cli.main(['report', '--scores', str(tmp_path / 'none.json'), '--out', str(tmp_path / 'r.png')]) == 2


def _environment(home: Path) -> dict:
    return {**os.environ, 'PYTHONPATH': os.pathsep.join([str(ROOT), os.environ.get('PYTHONPATH', '')]),
            'REALNET_HOME': str(home)}


def test_brainscore_models_piped_into_head(tmp_path):
    """The shell's `brainscore models | head -1`: the first line; then 0 (all was written before head
    left) or 141 (head left first: quietly, as a program SIGPIPE ends), never an error message."""
    shell = f'"{sys.executable}" -m realnet_brainscore.cli models | head -1; echo "status ${{PIPESTATUS[0]}}"'
    result = subprocess.run(['bash', '-c', shell], capture_output=True, text=True, timeout=120,
                            env=_environment(tmp_path / 'home'))
    first, status = result.stdout.splitlines()
    assert first.split()[0] == 'cornet-s' and status in ('status 0', 'status 141') and result.stderr == '', result


# ---- signals -------------------------------------------------------------------------------------

class _TestsTerm(Exception):
    """What SIGTERM raises in this test process outside a command (so that no test can kill it)."""


def _raise_tests_term(signum, frame):
    raise _TestsTerm()


@pytest.fixture
def tests_sigterm():
    previous = signal.signal(signal.SIGTERM, _raise_tests_term)
    yield
    signal.signal(signal.SIGTERM, previous)


def test_sigterm_ends_a_command_as_ctrl_c_does_and_restores_the_handler(capsys, monkeypatch, tests_sigterm):
    cleaned = []

    def work():
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(10)  # the handler raises first
        except KeyboardInterrupt:
            cleaned.append('removed partial files')
            raise
    _models_raising(monkeypatch, work)
    assert _one_line(capsys, cli.main(['models']), 'sigterm', 143) == 'brainscore: terminated\n'
    assert cleaned == ['removed partial files'] and signal.getsignal(signal.SIGTERM) is _raise_tests_term

    _models_raising(monkeypatch, lambda: os.kill(os.getpid(), signal.SIGINT) or time.sleep(10))
    assert _one_line(capsys, cli.main(['models']), 'sigint', 130) == 'brainscore: interrupted\n'


def test_sigterm_ignored_at_start_stays_ignored_and_threads_are_left_alone(capsys, monkeypatch):
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        seen = []
        _models_raising(monkeypatch, lambda: seen.append(signal.getsignal(signal.SIGTERM))
                        or os.kill(os.getpid(), signal.SIGTERM))
        assert cli.main(['models']) == 0 and seen == [signal.SIG_IGN]
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
        # only the main thread may set handlers: a command run from a thread leaves them as they are
        signal.signal(signal.SIGTERM, _raise_tests_term)
        _models_raising(monkeypatch, lambda: seen.append(signal.getsignal(signal.SIGTERM)))
        statuses = []
        thread = threading.Thread(target=lambda: statuses.append(cli.main(['models'])))
        thread.start()
        thread.join(timeout=60)
        assert statuses == [0] and seen[-1] is _raise_tests_term
    finally:
        signal.signal(signal.SIGTERM, previous)
    capsys.readouterr()


def _decoder_sigterm() -> bool:
    return signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


def test_decoder_processes_end_on_sigterm(tests_sigterm):
    """A forked decoder inherits the command's SIGTERM handler: the pool would take the exception it
    raises for a failed block and keep the process, which its parent ends with SIGTERM."""
    with ProcessPoolExecutor(1, initializer=data._die_with_parent, initargs=(os.getpid(),)) as pool:
        assert pool.submit(_decoder_sigterm).result(timeout=60)


TRAIN = r"""
import os, sys, time
from realnet_brainscore import cli
from realnet_brainscore.training import data

def slow(path, size):  # a decoder that never ends by itself: only stopping it ends the build
    os.write(1, f'decoder {os.getpid()}\n'.encode())  # one write: the two decoders' lines do not mix
    time.sleep(3600)
data.decode_image = slow
sys.exit(cli.main(sys.argv[1:]))
"""


def _gone(pid: int) -> bool:
    try:
        return Path(f'/proc/{pid}/stat').read_text().split(')')[-1].split()[0] in ('Z', 'X')
    except FileNotFoundError:
        return True


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='decoders die with their parent on Linux')
def test_sigterm_to_train_removes_its_lock_and_partial_files_and_ends_its_decoders(tiny, tmp_path):
    """`brainscore train` building its image cache with two decoders: SIGTERM then is one line and
    143; the run folder (its lock), the partial cache file and the decoders are gone."""
    things, weights = tiny
    out, home = tmp_path / 'out', tmp_path / 'home'
    run = subprocess.Popen([sys.executable, '-c', TRAIN, *_train(things, weights, out, '--workers', '2')],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_environment(home))
    decoders = set()
    try:
        decoders = {int(run.stdout.readline().split()[1]) for _ in range(2)}
        assert (out / 'sub-02' / checkpointing.LOCK_FILE).exists()
        assert len(list((home / 'cache').glob('.images-*.partial'))) == 1
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=120) == 143
        assert run.stderr.read() == 'brainscore: terminated\n'
        assert not out.exists() and not list(home.rglob('*.partial'))
        assert all(_gone(pid) for pid in decoders), 'decoders outlive the run'
    finally:
        for pid in (run.pid, *decoders):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        run.wait()
        run.stdout.close()
        run.stderr.close()
