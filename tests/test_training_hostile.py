"""`train` on hostile input (issue 12, groups 3, 6, 7, 9, 10): one line and exit 2, no run lost,
no NaN checkpoint, no leftovers, no orphaned decoder."""
import contextlib
import fcntl
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from realnet_brainscore import RealnetError, cli
from realnet_brainscore.checkpoint import FORMAT, write_checkpoint
from realnet_brainscore.data.things_eeg2 import image_paths
from realnet_brainscore.synthetic import Design, write_things_eeg2
from realnet_brainscore.training import Recipe, Source, checkpointing, loop, objective, train
from realnet_brainscore.training.distributed import Distributed
from realnet_brainscore.training.run_data import RunData
from realnet_brainscore.training.data import decode_image, image_cache

SIZE = 32  # pixels of the image caches built here


def _library(small, out, **recipe):
    """(source, recipe, runtime) of the run `_cli` asks for: one epoch of the `small` runs."""
    return small.source(), small.recipe(epochs=1, **recipe), small.runtime(out)


def _cli(small, out, *extra):
    return small.train_args(out, '--epochs', '1', '-q', *extra)


def _refused(capsys, arguments, pattern) -> str:
    """Runs the CLI; asserts exit 2 and one line matching ``pattern``."""
    assert cli.main(arguments) == 2, arguments
    error = capsys.readouterr().err
    assert error.count('\n') == 1 and error.startswith('brainscore: error: '), error
    assert re.search(pattern, error), error
    return error


def test_numbers_device_and_outputs_are_checked_before_any_work(small, tmp_path, capsys, monkeypatch):
    """Each refused at once: the data path does not exist, so reading any data would say so instead."""
    nowhere = ['--things-eeg2', str(tmp_path / 'no-data')]
    cases = [
        (['--beta', 'nan'], r'--beta must be a number of at least 0, got nan'),
        (['--beta', '-1'], r'--beta must be'),
        (['--beta', 'inf'], r'--beta must be'),
        (['--lr', '-1'], r'--lr must be a positive number, got -1'),
        (['--lr', '0'], r'--lr must be a positive number'),
        (['--lr', 'nan'], r'--lr must be a positive number'),
        (['--window', '0.2', '0.1'], r'--window START END must be numbers with START < END, got 0.2 0.1'),
        (['--window', 'nan', '0.1'], r'--window START END'),
        (['--seed', '-1'], r'--seed must be a whole number'),
        (['--device', 'bogus'], r"--device 'bogus' is not a device; use cpu, cuda or cuda:N"),
        (['--device', 'cuda:99'], r'--device cuda:99: this machine has'),
    ]
    out = tmp_path / 'out'
    for extra, pattern in cases:
        _refused(capsys, [*_cli(small, out, *extra), *nowhere], pattern)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    _refused(capsys, [*_cli(small, out, '--device', 'cuda'), *nowhere],
             r'--device cuda: this machine has no usable CUDA GPU; use --device cpu')
    monkeypatch.undo()

    a_file = tmp_path / 'a-file'
    a_file.write_text('mine\n')
    _refused(capsys, [*_cli(small, a_file), *nowhere], rf'{a_file}/sub-02: cannot be a folder, {a_file} is a file')
    monkeypatch.setenv('REALNET_HOME', str(a_file / 'home'))
    _refused(capsys, [*_cli(small, out), *nowhere], rf'image cache: .*{a_file} is a file; set \$REALNET_HOME')
    assert a_file.read_text() == 'mine\n' and not out.exists()


def test_a_folder_holding_any_file_of_a_run_is_refused(small, tmp_path, capsys):
    folder = tmp_path / 'out' / 'sub-02'
    folder.mkdir(parents=True)
    for name in ('best.pt', 'log.jsonl', 'summary.json'):
        (folder / name).write_text(f'my {name}\n')
        _refused(capsys, _cli(small, tmp_path / 'out'), rf'{folder} already holds a run \({name}\); pass --resume')
        _refused(capsys, _cli(small, tmp_path / 'out', '--resume'), rf'{folder} holds {name} but no last.pt to resume')
        assert (folder / name).read_text() == f'my {name}\n'
        (folder / name).unlink()
    assert list(folder.iterdir()) == []


def test_a_second_train_into_a_locked_run_folder_refuses_at_once(small, tmp_path, capsys):
    folder = tmp_path / 'out' / 'sub-02'
    with checkpointing.run_lock(folder):  # as a running `train` holds it
        # A lock that waited for the other run would never return: the bound only catches that.
        exits = []
        second = threading.Thread(target=lambda: exits.append(cli.main(_cli(small, tmp_path / 'out'))))
        second.start()
        second.join(timeout=GONE_SECONDS)
        assert exits == [2], 'the second train waits for the lock instead of refusing'
        error = capsys.readouterr().err
        assert error.count('\n') == 1 and re.search(rf'{folder}: another train run holds it', error), error
        assert (folder / checkpointing.LOCK_FILE).is_file()  # the holder's lock is left alone
    assert not (tmp_path / 'out').exists()  # the holder ended with nothing written: no trace


def _a_run(folder: Path, source: Source, recipe: Recipe, fingerprint: str):
    """The files an epoch of ``recipe`` leaves, with the data ``fingerprint`` (one tensor stands in
    for the weights: they are loaded only once the data has been compared)."""
    folder.mkdir(parents=True)
    meta = {'epoch': 1, 'config': checkpointing.recorded_settings(recipe, source), 'data_fingerprint': fingerprint}
    stand_in = {'V1.conv1.weight': torch.zeros(1)}
    write_checkpoint(folder / 'last.pt', stand_in, meta=meta, optimizer={}, best_val_loss=1.0)
    write_checkpoint(folder / 'best.pt', stand_in, meta=meta)
    (folder / 'log.jsonl').write_text('{"epoch": 1, "val_loss": 1.0}\n')


def test_resume_refuses_other_data(small, tmp_path, capsys, monkeypatch):
    source, recipe, runtime = _library(small, tmp_path / 'out')
    fingerprint = RunData(source, recipe, runtime, Distributed(), 'cpu').fingerprint
    monkeypatch.chdir(small.things_eeg2.parent)  # where the data lies, or how it is spelled, does not count
    relative = replace(source, things_eeg2=Path(small.things_eeg2.name))
    assert RunData(relative, recipe, runtime, Distributed(), 'cpu').fingerprint == fingerprint
    folder = tmp_path / 'out' / 'sub-02'
    _a_run(folder, source, recipe, fingerprint)
    other = write_things_eeg2(tmp_path / 'other', Design(subjects=2, concepts=4, images_per_concept=5,
                                                         test_images=2, image_size=SIZE, seed=1))
    arguments = _cli(small, tmp_path / 'out', '--resume', '--epochs', '2')
    arguments[arguments.index('--things-eeg2') + 1] = str(other)
    _refused(capsys, arguments, rf'{folder}: --resume on other data than the run \(data fingerprint \w+, the '
                                rf"run's {fingerprint}\); give the run's data or choose another --out")


def test_resume_refuses_a_damaged_or_foreign_last_pt_and_removes_leftovers(small, tmp_path, capsys):
    source, recipe, _ = _library(small, tmp_path / 'out')
    folder = tmp_path / 'out' / 'sub-02'
    _a_run(folder, source, recipe, 'not compared')
    # a killed save's leftovers, removed by the next run in the folder; a user's file is not ours
    leftovers = [folder / '.last.pt.k2j4x_1q.partial', folder / '.summary.json.8dk3j0aa.partial']
    for leftover in leftovers:
        leftover.write_bytes(b'half')
    (folder / 'notes.partial').write_text('mine\n')
    last = folder / 'last.pt'
    whole = last.read_bytes()
    weights = {'conv.weight': torch.zeros(2, 2)}
    not_ours = 'not a last.pt written by brainscore train'
    damaged = {  # what each is, how it is written, the reason given
        'truncated': (lambda: last.write_bytes(whole[:len(whole) // 2]), 'not a PyTorch checkpoint, or a truncated'),
        'text': (lambda: last.write_text('not a checkpoint\n'), 'not a PyTorch checkpoint, or a truncated'),
        'a plain state dict': (lambda: torch.save(weights, last), not_ours),
        'a dict without meta': (lambda: torch.save({'state_dict': weights, 'optimizer': {}, 'best_val_loss': 1.0},
                                                   last), not_ours),
        'no weights': (lambda: torch.save({'state_dict': {}, 'optimizer': {}, 'best_val_loss': 1.0}, last),
                       r'not a state dict \(.*found an empty one\)'),
        'another format': (lambda: torch.save({'state_dict': weights, 'meta': {'format': 'realnet-brainscore/0'}},
                                              last), f"checkpoint format 'realnet-brainscore/0', not '{FORMAT}'"),
        'a pickled payload': (lambda: torch.save({'meta': Payload()}, last), 'refused: it holds Python objects'),
    }
    for case, (write, reason) in damaged.items():
        write()
        _refused(capsys, _cli(small, tmp_path / 'out', '--resume', '--epochs', '2'),
                 rf'{last}: {reason}.*; it cannot be resumed from: move it away or choose another --out$')
    assert not PAYLOAD_RAN.exists()
    assert not any(p.exists() for p in leftovers) and (folder / 'notes.partial').read_text() == 'mine\n'
    assert sorted(p.name for p in folder.iterdir()) == ['best.pt', 'last.pt', 'log.jsonl', 'notes.partial']


PAYLOAD_RAN = Path(os.environ.get('TMPDIR', '/tmp')) / f'realnet-payload-ran-{os.getpid()}'


class Payload:
    def __reduce__(self):
        return (Path.touch, (PAYLOAD_RAN,))


def test_nan_starting_weights_are_refused(small, tmp_path, capsys):
    state = torch.load(small.weights, weights_only=True)
    key = next(k for k in state['state_dict'] if k.endswith('weight'))
    state['state_dict'][key][0] = float('nan')
    weights = tmp_path / 'nan.pth'
    torch.save(state, weights)
    arguments = _cli(small, tmp_path / 'out')
    arguments[arguments.index('--backbone-weights') + 1] = str(weights)
    _refused(capsys, arguments, rf'{weights}: 1 weight tensors hold NaN or infinite values \(first: .*\); training '
                                'cannot start')
    assert not (tmp_path / 'out').exists()


def test_training_stops_at_the_first_non_finite_loss_and_saves_nothing_of_it(small, tmp_path, capsys, monkeypatch):
    """Epoch 1 is fine; the loss of epoch 2, step 1 is NaN (its MSE term): epoch 1's files stay, no
    checkpoint of epoch 2 and no summary are written."""
    calls = []
    generation_loss = objective.generation_loss

    def nan_from_the_second_step(pred, eeg, *args):
        terms = generation_loss(pred, eeg, *args)
        calls.append(pred.requires_grad)
        if sum(calls) >= 2:  # the second training step (one an epoch); validation runs under no_grad
            terms['mse'] = terms['mse'] * float('nan')
            terms['gen'] = terms['gen'] * float('nan')
        return terms
    monkeypatch.setattr(objective, 'generation_loss', nan_from_the_second_step)
    _refused(capsys, _cli(small, tmp_path / 'out', '--epochs', '3', '--batch-size', '20'),
             r'training stopped: non-finite loss at epoch 2, step 1 \(mse=nan, gen=nan, loss=nan\); nothing of this '
             r'epoch was saved. Lower --lr or --beta')
    folder = tmp_path / 'out' / 'sub-02'
    assert sorted(p.name for p in folder.iterdir()) == ['best.pt', 'last.pt', 'log.jsonl']
    for name in ('best.pt', 'last.pt'):
        checkpoint = torch.load(folder / name, weights_only=True)
        assert checkpoint['meta']['epoch'] == 1
        assert all(torch.isfinite(v).all() for v in checkpoint['state_dict'].values() if v.is_floating_point())
    assert len((folder / 'log.jsonl').read_text().splitlines()) == 1


def test_a_non_finite_validation_loss_stops_before_any_checkpoint(small, tmp_path, monkeypatch):
    generation_loss = objective.generation_loss

    def nan_in_validation(pred, eeg, *args):
        terms = generation_loss(pred, eeg, *args)
        if not pred.requires_grad:
            terms['gen'] = terms['gen'] + float('inf')
        return terms
    monkeypatch.setattr(objective, 'generation_loss', nan_in_validation)
    with pytest.raises(RealnetError, match=r'non-finite validation loss at epoch 1 \(gen=inf, loss=inf\)'):
        train(*_library(small, tmp_path / 'out', batch_size=20))
    assert not (tmp_path / 'out').exists()  # nothing written: the folder made for the run is gone


def test_loss_check_reads_the_device_only_every_n_steps():
    """On CUDA the terms are read every CHECK_EVERY steps: the bad step is still named exactly."""
    check = loop.FiniteCheck(10, 'cpu', epoch=4, every=5)
    terms = {t: torch.tensor(1.0) for t in objective.TERMS}
    for step in range(3):
        check.add(step, terms)
    check.add(3, {**terms, 'cls': torch.tensor(float('inf')), 'loss': torch.tensor(float('inf'))})
    with pytest.raises(RealnetError, match=r'epoch 4, step 4 \(cls=inf, loss=inf\)'):
        check.add(4, terms)  # the 5th step reads the record


def test_a_truncated_image_cache_is_rebuilt(insilico, tmp_path, capsys):
    paths = image_paths(insilico[0], 'test')[:5]
    first = image_cache(paths, SIZE, tmp_path, workers=1, progress=False)
    file, whole = Path(first.filename), Path(first.filename).read_bytes()
    del first
    for damaged in (whole[:len(whole) // 2], whole[:-1], b'garbage', whole[:20]):
        file.write_bytes(damaged)
        again = image_cache(paths, SIZE, tmp_path, workers=1, progress=False)
        assert Path(again.filename) == file and file.read_bytes() == whole
        np.testing.assert_array_equal(again[4], decode_image(paths[4], SIZE))
        del again  # the next damage rewrites the file under it
        assert 'not a whole image cache (truncated or damaged); rebuilding it' in capsys.readouterr().err


def test_partial_caches_are_removed_unless_a_build_is_running(insilico, tmp_path):
    paths = image_paths(insilico[0], 'test')[:3]
    leftover = tmp_path / '.images-32px-3-0123456789abcdef.npy.x1y2z3.partial'
    leftover.write_bytes(b'half a cache')
    with open(tmp_path / '.images.lock', 'a') as building:  # another process builds a cache here
        fcntl.flock(building, fcntl.LOCK_SH)
        image_cache(paths, SIZE, tmp_path, workers=1, progress=False)
        assert leftover.exists()
    image_cache(paths, SIZE, tmp_path, workers=1, progress=False)
    assert not leftover.exists()


BUILD = r"""
import os, sys, time
from realnet_brainscore.training import data
from realnet_brainscore.data.things_eeg2 import image_paths

def slow(path, size):  # a decoder that never ends by itself: only stopping it ends the build
    os.write(1, f'decoder {os.getpid()}\n'.encode())  # one write: the two decoders' lines do not mix
    time.sleep(3600)
data.decode_image = slow
try:
    data.image_cache(image_paths(sys.argv[1], 'training') * 2, 16, sys.argv[2], workers=2, progress=False)
except KeyboardInterrupt:
    os.write(1, b'interrupted\n')
    raise
"""
# Bounds that a slow machine meets. After Ctrl-C the build's own work ends within 0.2 s, but the process
# then finalizes an interpreter that imported torch (garbage-collecting every module): 3-6 s on two cores
# beside two to six busy loops, growing with the load, so the 30 s this test once allowed was a bet on
# the machine. The decoders never end by themselves: a build that waited for them would never end.
EXIT_SECONDS = 300
GONE_SECONDS = 60


@contextlib.contextmanager
def _cache_build(insilico, tmp_path):
    """A cache build in a process of its own, once its two decoders run: (process, decoder ids).
    Whatever the test finds, they are all killed afterwards."""
    build = subprocess.Popen([sys.executable, '-c', textwrap.dedent(BUILD), str(insilico[0]), str(tmp_path)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    decoders = set()
    try:
        decoders = {int(build.stdout.readline().split()[1]) for _ in range(2)}
        yield build, decoders
    finally:
        for pid in (build.pid, *decoders):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        build.wait()


def _gone(pid: int) -> bool:
    try:
        return Path(f'/proc/{pid}/stat').read_text().split(')')[-1].split()[0] in ('Z', 'X')  # zombie: ended
    except FileNotFoundError:
        return True


def _wait_until(condition, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='decoders die with their parent on Linux')
def test_decoders_of_a_killed_cache_build_die_with_it(insilico, tmp_path):
    with _cache_build(insilico, tmp_path) as (build, decoders):
        build.kill()
        build.wait()
        assert _wait_until(lambda: all(_gone(pid) for pid in decoders), GONE_SECONDS), 'orphaned decoders'


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='decoders die with their parent on Linux')
def test_ctrl_c_during_a_cache_build_ends_it_without_decoding_the_rest(insilico, tmp_path):
    with _cache_build(insilico, tmp_path) as (build, decoders):
        build.send_signal(signal.SIGINT)
        # each decoder is in a block of 64 images that it would never finish: shut down, not decoded to the end
        assert build.wait(timeout=EXIT_SECONDS) != 0
        assert _wait_until(lambda: all(_gone(pid) for pid in decoders), GONE_SECONDS), 'decoders outlive the build'
        assert build.stdout.read() == 'interrupted\n'  # Ctrl-C came out of the build; no other block started
    assert not list(tmp_path.glob('*.npy')) and not list(tmp_path.glob('.images-*.partial'))
