"""Issue 26, rule 3: caches are ours and checked (rule 4, offline, is in test_hostile_offline.py).

Every cache, lock and weights path refuses a FIFO, a dangling link or a folder in one line without
opening it (a FIFO opened for reading or writing blocks until its other end is opened: each such
case runs in a thread with a bound, so a hang fails the test instead of hanging the run); kept
decoding RDMs and image caches are used only when their record and values are those of the
computation, else rebuilt; resume reads only records of the shape its writer writes; Brain-Score's
pickle cache is private.
"""
import hashlib
import os
import pickle
import re
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from factories import random_cornet, write_sized_checkpoint
from realnet_brainscore import RealnetError, cli, decoding, weights
from realnet_brainscore.cache_files import append_record
from realnet_brainscore.checkpoint import write_checkpoint
from realnet_brainscore.decoding_cache import cached_decoding_rdms
from realnet_brainscore.synthetic import Design, write_things_eeg2
from realnet_brainscore.training import Recipe, Source, checkpointing
from realnet_brainscore.training.data import decode_image, image_cache

BOUND = 20  # seconds: what a refusal takes is milliseconds; a hang never ends
MARKER = Path(os.environ.get('TMPDIR', '/tmp')) / f'realnet-caches-marker-{os.getpid()}'
KINDS = ('fifo', 'dangling link', 'folder')
SAYS = {'fifo': 'is a FIFO, not a regular {}', 'dangling link': 'no such {} (a link to nothing)',
        'folder': 'is a folder, not a regular {}'}


class Marker:  # a pickle that leaves MARKER when it is loaded
    def __reduce__(self):
        return (Path.touch, (MARKER,))


def _plant(path: Path, kind: str) -> Path:
    """A FIFO, a link to nothing or a folder at ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == 'fifo':
        os.mkfifo(path)
    elif kind == 'dangling link':
        os.symlink(path.parent / 'nothing-here', path)
    else:
        path.mkdir()
    return path


def _bounded(call, fifo: Path | None = None):
    """``call()``'s exception (None if it returned) within BOUND seconds; a call still blocked then
    (on a FIFO's open) fails the test, after being released by opening the FIFO's other end."""
    outcome = []

    def run():
        try:
            call()
            outcome.append(None)
        except BaseException as error:  # noqa: B036 -- handed to the test thread
            outcome.append(error)
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(BOUND)
    if thread.is_alive():
        if fifo is not None and fifo.exists():
            os.close(os.open(fifo, os.O_RDWR | os.O_NONBLOCK))  # a reader and a writer at once: unblocks it
        pytest.fail(f'hangs on {fifo}')
    return outcome[0]


def _refused(call, kind: str, path: Path, what: str):
    """``call()`` refuses the ``kind`` of special file at ``path``, a ``what``, in one line, at once."""
    error = _bounded(call, path if kind == 'fifo' else None)
    assert isinstance(error, RealnetError), repr(error)
    assert '\n' not in str(error) and str(error).startswith(str(path)), str(error)
    assert SAYS[kind].format(what) in str(error), str(error)


# ---------------------------------------------------------------- special files at caches, locks, weights

TRIALS = np.random.default_rng(26).normal(size=(3, 20, 2, 4))  # 3 pairs × 4 time points, 4 pseudo-trials


def _decoding_file(home: Path) -> Path:
    return next((home / 'cache' / 'eeg_rdms').glob('sub-01-decoding-*.npy'))


@pytest.fixture
def fake_decoding(monkeypatch):
    """decoding_rdms as a known function of the data (RDM values are fractions): its calls counted."""
    calls = []

    def fake(trials, seed=0, bar=None):
        calls.append(seed)
        return np.clip(0.5 + 0.1 * np.tanh(trials.mean(axis=(1, 2))).T[:, [0, 0, 1]] + [0, 0.1, 0.2], 0, 1)
    monkeypatch.setattr(decoding, 'decoding_rdms', fake)
    expected = fake(TRIALS)
    calls.clear()
    return calls, expected


@pytest.mark.parametrize('kind', KINDS)
def test_a_special_file_at_the_decoding_cache_is_refused(kind, realnet_home, fake_decoding):
    cached_decoding_rdms(TRIALS, 'sub-01', progress=False)
    file = _decoding_file(realnet_home)
    file.unlink()
    _plant(file, kind)
    _refused(lambda: cached_decoding_rdms(TRIALS, 'sub-01', progress=False), kind, file, 'decoding RDM cache')


def _images(folder: Path, n: int = 3) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.fromarray(np.full((10, 10, 3), 40 * i + 20, np.uint8)).save(folder / f'{i}.png')
    return [folder / f'{i}.png' for i in range(n)]


@pytest.mark.parametrize('kind', KINDS)
def test_a_special_file_at_an_image_cache_is_refused(kind, tmp_path):
    paths = _images(tmp_path / 'images')
    file = Path(image_cache(paths, 8, tmp_path / 'cache', workers=1, progress=False).filename)
    file.unlink()
    _plant(file, kind)
    _refused(lambda: image_cache(paths, 8, tmp_path / 'cache', workers=1, progress=False), kind, file, 'image cache')


@pytest.mark.parametrize('kind', KINDS)
def test_a_special_file_at_the_image_cache_lock_is_refused(kind, tmp_path):
    lock = _plant(tmp_path / 'cache' / '.images.lock', kind)
    _refused(lambda: image_cache(_images(tmp_path / 'images'), 8, tmp_path / 'cache', workers=1, progress=False),
             kind, lock, 'lock file')
    assert not (tmp_path / 'cache' / 'nothing-here').exists()  # a link is not followed to make its target


@pytest.mark.parametrize('kind', KINDS)
def test_a_special_file_at_the_run_lock_is_refused(kind, tmp_path):
    lock = _plant(tmp_path / 'run' / checkpointing.LOCK_FILE, kind)

    def run():
        with checkpointing.run_lock(tmp_path / 'run'):
            pass
    _refused(run, kind, lock, 'lock file')
    assert os.path.lexists(lock) and not (tmp_path / 'run' / 'nothing-here').exists()


@pytest.mark.parametrize('kind', KINDS)
def test_a_special_file_at_the_run_log_is_refused(kind, tmp_path):
    log = _plant(tmp_path / 'run' / 'log.jsonl', kind)
    _refused(lambda: checkpointing.read_log(log, 1), kind, log, 'log')


@pytest.mark.parametrize('kind', KINDS)
def test_a_special_file_at_a_cached_weights_file_is_refused(kind, realnet_home, no_network):
    path = _plant(weights.cached_path('realnet-s01'), kind)
    _refused(lambda: weights.resolve('realnet-s01', progress=False), kind, path, 'weights file')


def test_a_fifo_given_as_weights_is_refused_by_score_and_import(tmp_path, capsys):
    fifo = _plant(tmp_path / 'weights.pth', 'fifo')
    code = _bounded(lambda: sys.exit(cli.main(['score', '--model', 'cornet-s', '--weights', str(fifo),
                                               '--benchmark', 'Gifford2022.IT-temporal_rsa', '--rdm', 'correlation',
                                               '-q'])), fifo)
    error = capsys.readouterr().err
    assert code.code == 2 and error.count('\n') == 1 and f'{fifo} is a FIFO' in error, error
    _refused(lambda: weights.import_file('realnet-s01', fifo), 'fifo', fifo, 'weights file')


# ---------------------------------------------------------------- decoding RDMs kept on disk

def _hostile_rdms(kind: str, rdms: np.ndarray):
    """(array to keep, its record's digest) of each kind of kept file that must not be used; the digest
    is the array's own but for 'digest': a digest proves nothing against whoever writes the file."""
    nan, outside = rdms.copy(), rdms.copy()
    nan[1, 2], outside[0, 0] = np.nan, 1.5
    array = {'nan': nan, 'constant': np.full_like(rdms, 0.5), 'outside': outside, 'float32': rdms.astype(np.float32),
             'shape': rdms[:, :2], 'digest': rdms * 0.9}[kind]
    return array, hashlib.sha1(np.ascontiguousarray(rdms if kind == 'digest' else array).tobytes()).hexdigest()


@pytest.mark.parametrize('kind', ['nan', 'constant', 'outside', 'float32', 'shape', 'digest', 'other key',
                                  'no record', 'object array'])
def test_kept_rdms_that_are_not_the_computations_are_computed_again(kind, realnet_home, fake_decoding, capfd):
    calls, expected = fake_decoding
    np.testing.assert_array_equal(cached_decoding_rdms(TRIALS, 'sub-01', progress=False), expected)
    file = _decoding_file(realnet_home)
    key = file.read_bytes().rsplit(b'"key": "', 1)[1][:40].decode()
    with open(file, 'wb') as stream:
        if kind == 'no record':  # as hostile-base wrote them: nothing says what they are
            np.save(stream, expected)
        elif kind == 'object array':  # a pickle that would leave a marker when read
            np.save(stream, np.array([Marker(), expected], dtype=object), allow_pickle=True)
        elif kind == 'other key':
            np.save(stream, expected)
            append_record(stream, key='0' * 40, sha1=_hostile_rdms('digest', expected)[1])
        else:
            array, digest = _hostile_rdms(kind, expected)
            np.save(stream, array)
            append_record(stream, key=key, sha1=digest)
    np.testing.assert_array_equal(cached_decoding_rdms(TRIALS, 'sub-01'), expected)
    assert len(calls) == 2 and not MARKER.exists()
    assert capfd.readouterr().err.count(f'warning: {file}: not used') == 1
    np.testing.assert_array_equal(cached_decoding_rdms(TRIALS, 'sub-01', progress=False), expected)
    assert len(calls) == 2  # what was computed again is kept, and used


def test_a_record_nested_past_the_parsers_depth_is_a_cache_to_rebuild(realnet_home, fake_decoding):
    calls, expected = fake_decoding
    cached_decoding_rdms(TRIALS, 'sub-01', progress=False)
    file = _decoding_file(realnet_home)
    with open(file, 'wb') as stream:
        np.save(stream, expected)
        stream.write(b'\n#realnet-cache ' + b'[' * 2000 + b']' * 2000 + b'\n')
    np.testing.assert_array_equal(cached_decoding_rdms(TRIALS, 'sub-01', progress=False), expected)
    assert len(calls) == 2


def test_freshly_computed_constant_rdms_are_one_line_not_a_nan_score(realnet_home, monkeypatch):
    """What a kept file may not hold, a computation may not give either: every correlation with it is
    undefined."""
    monkeypatch.setattr(decoding, 'decoding_rdms', lambda trials, seed=0, bar=None: np.ones((3, 3)))
    with pytest.raises(RealnetError, match='sub-01: every pairwise decoding accuracy is 1, at every time point'):
        cached_decoding_rdms(TRIALS, 'sub-01', progress=False)
    assert not list((realnet_home / 'cache' / 'eeg_rdms').glob('*.npy'))


# ---------------------------------------------------------------- image caches

@pytest.mark.parametrize('kind', ['no record', 'other key', 'other dtype', 'cut record'])
def test_an_image_cache_that_is_not_this_ones_is_rebuilt(kind, tmp_path, capsys):
    paths = _images(tmp_path / 'images')
    first = image_cache(paths, 8, tmp_path / 'cache', workers=1, progress=False)
    file, whole = Path(first.filename), Path(first.filename).read_bytes()
    assert re.fullmatch(r'images-8px-3-[0-9a-f]{16}\.npy', file.name)  # the name as before records; the record holds the whole key
    other = np.zeros(first.shape, np.uint8)  # other images of the same shape: what a stale cache holds
    del first
    with open(file, 'wb') as stream:
        np.save(stream, other.astype(np.uint16) if kind == 'other dtype' else other)
        if kind == 'other key':
            append_record(stream, key='f' * 40)
        elif kind == 'cut record':
            stream.write(whole[whole.rindex(b'\n#realnet-cache'):-5])
    again = image_cache(paths, 8, tmp_path / 'cache', workers=1, progress=False)
    assert file.read_bytes() == whole and Path(again.filename) == file
    np.testing.assert_array_equal(again[2], decode_image(paths[2], 8))
    assert capsys.readouterr().err.count('not a whole image cache') == 1


# ---------------------------------------------------------------- resuming a run

@pytest.mark.parametrize('line, problem', [
    ('{"epoch": 1}', "no 'val_loss'"),
    ('{"val_loss": 1.0}', "no 'epoch'"),
    ('{"epoch": "1", "val_loss": 1.0}', "'epoch' '1' is not a whole number of at least 1"),
    ('{"epoch": -1, "val_loss": 1.0}', "'epoch' -1 is not a whole number of at least 1"),
    ('{"epoch": 1, "val_loss": NaN}', "'val_loss' is not a finite number"),
    ('{"epoch": 1, "val_loss": 1.0, "seconds": "soon"}', "'seconds' is not a finite number"),
    ('[1, 1.0]', 'a list, not a record'),
])
def test_a_resume_log_record_of_another_shape_is_one_line(tmp_path, line, problem):
    log = tmp_path / 'log.jsonl'
    log.write_text('{"epoch": 1, "val_loss": 0.5}\n' + line + '\n')
    with pytest.raises(RealnetError) as error:
        checkpointing.read_log(log, 2)
    assert str(error.value) == (f'{log}: not a log written by brainscore train ({problem}, line 2); move the run '
                                'away or choose another `out`')


@pytest.mark.parametrize('epoch, best', [(-1, 0.5), (0, 0.5), (3, 0.5), (True, 0.5), (1, float('nan')),
                                         (1, float('inf')), (1, True)])
def test_a_last_pt_with_an_impossible_epoch_or_best_loss_is_refused(tmp_path, epoch, best):
    path = tmp_path / 'last.pt'
    write_checkpoint(path, {'w': torch.zeros(1)}, meta={'epoch': epoch, 'config': {'epochs': 2},
                                                       'data_fingerprint': 'f'}, optimizer={}, best_val_loss=best)
    with pytest.raises(RealnetError, match=f'^{path}: not a last.pt written by brainscore train; it cannot be resumed'):
        checkpointing.read_last(path)


def test_train_resuming_a_log_without_a_field_is_one_line_and_exit_2(tmp_path, capsys):
    folder = tmp_path / 'runs' / 'sub-01'
    folder.mkdir(parents=True)
    settings = checkpointing.recorded_settings(Recipe(epochs=2), Source(things_eeg2=tmp_path, subject=1))
    meta = {'epoch': 1, 'config': settings, 'data_fingerprint': 'f'}
    write_checkpoint(folder / 'last.pt', {'w': torch.zeros(1)}, meta=meta, optimizer={}, best_val_loss=0.5)
    write_checkpoint(folder / 'best.pt', {'w': torch.zeros(1)}, meta=meta)
    (folder / 'log.jsonl').write_text('{"epoch": 1}\n')
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    (tmp_path / 'data').mkdir()  # none is read: the log is refused first
    code = cli.main(['train', '--subject', '1', '--things-eeg2', str(tmp_path / 'data'), '--out',
                     str(tmp_path / 'runs'), '--epochs', '2', '--resume', '-q'])
    error = capsys.readouterr().err
    assert code == 2 and error.count('\n') == 1 and "not a log written by brainscore train (no 'val_loss', line 1)" \
        in error, error
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before


# ---------------------------------------------------------------- Brain-Score's result cache

@pytest.fixture
def no_result_cache_setting(monkeypatch, tmp_path):
    """No RESULTCACHING_HOME (restored afterwards), HOME in tmp_path: ~/.result_caching is there."""
    monkeypatch.delenv('RESULTCACHING_HOME')
    monkeypatch.setenv('RESULTCACHING_DISABLE', '0')  # '0': nothing disabled; set, so that it is restored
    monkeypatch.setenv('HOME', str(tmp_path / 'user'))
    return tmp_path / 'user' / '.result_caching'


def test_a_pickle_planted_in_the_default_result_cache_is_not_read(no_result_cache_setting, realnet_home):
    import result_caching
    assert weights.private_result_cache() == realnet_home / 'resultcaching'
    assert os.environ['RESULTCACHING_HOME'] == str(realnet_home / 'resultcaching')
    assert (realnet_home / 'resultcaching').stat().st_mode & 0o777 == 0o700
    assert os.environ['RESULTCACHING_DISABLE'] == '0'  # as it was: the private folder is used

    def answer(x):
        return 2 * x
    answer.__module__ = 'hostile'
    identifier = result_caching.get_function_identifier(answer, {'x': 21})
    planted = no_result_cache_setting / f'{identifier}.pkl'
    planted.parent.mkdir(parents=True)
    planted.write_bytes(pickle.dumps({'data': Marker()}))
    assert result_caching.store()(answer)(21) == 42 and not MARKER.exists()


def test_a_result_cache_the_user_set_is_kept(monkeypatch, tmp_path, realnet_home):
    monkeypatch.setenv('RESULTCACHING_HOME', str(tmp_path / 'mine'))
    assert weights.private_result_cache() is None and os.environ['RESULTCACHING_HOME'] == str(tmp_path / 'mine')
    assert not realnet_home.exists()


def test_a_result_cache_folder_others_could_write_is_made_private_or_not_used(no_result_cache_setting, realnet_home,
                                                                              monkeypatch):
    folder = realnet_home / 'resultcaching'
    folder.mkdir(parents=True, mode=0o777)
    folder.chmod(0o777)
    weights.private_result_cache()
    assert folder.stat().st_mode & 0o777 == 0o700 and os.environ['RESULTCACHING_DISABLE'] == '0'
    folder.rmdir()
    no_result_cache_setting.mkdir(parents=True)
    folder.symlink_to(no_result_cache_setting, target_is_directory=True)  # a link: to where, others decide
    monkeypatch.delenv('RESULTCACHING_HOME')
    weights.private_result_cache()
    assert os.environ['RESULTCACHING_DISABLE'] == '1'


def test_score_keeps_brainscores_results_in_the_private_folder(tmp_path):
    things = write_things_eeg2(tmp_path / 'things', Design(subjects=2, concepts=2, images_per_concept=1,
                                                          test_images=4, test_repetitions=4, image_size=32))
    write_sized_checkpoint(tmp_path / 'cornet.pth', random_cornet(0), 32)
    environment = {k: v for k, v in os.environ.items() if k != 'RESULTCACHING_HOME'}
    environment.update(HOME=str(tmp_path / 'user'), REALNET_HOME=str(tmp_path / 'home'),
                       PYTHONPATH=os.pathsep.join([str(Path(__file__).parents[1]), os.environ.get('PYTHONPATH', '')]))
    run = subprocess.run([sys.executable, '-m', 'realnet_brainscore.cli', 'score', '--model', 'cornet-s', '--weights',
                          str(tmp_path / 'cornet.pth'), '--benchmark', 'Gifford2022.IT-temporal_rsa', '--things-eeg2',
                          str(things), '--rdm', 'correlation', '-q'], env=environment, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0 and 'on Gifford2022.IT-temporal_rsa' in run.stdout, run.stderr
    assert list((tmp_path / 'home' / 'resultcaching').rglob('*.pkl'))
    assert not (tmp_path / 'user' / '.result_caching').exists()
