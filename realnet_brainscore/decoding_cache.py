"""The disk cache of pairwise-decoding EEG RDMs: computed once per data, settings and version of the
computation (``decoding.VERSION``), kept in ``$REALNET_HOME/cache/eeg_rdms``, then read back once
its record (key and digest) and its values are shown to be those of the computation."""
import hashlib
import os
import sys
from pathlib import Path

import numpy as np

from . import decoding
from .cache_files import append_record, kept, read_array
from .errors import RealnetError
from .decoding import C, FOLDS, NAVG, REPEATS, SECONDS_PER_SVM, SMOOTH, TOL, VERSION, check_trials


def cached_decoding_rdms(trials: np.ndarray, name: str, seed: int = 0, progress: bool = True) -> np.ndarray:
    """``decoding_rdms`` with the authors' settings, kept in ``$REALNET_HOME/cache/eeg_rdms`` under a
    key of the data's contents, the settings and VERSION: computed once (saying so, with a rough
    duration, on stderr), then read back. ``name`` (e.g. 'sub-01') only labels the file. A kept file
    is used only if it holds what this computation gives (``_read_kept``); else it is computed again."""
    from .files import atomic_path
    from .weights import realnet_home
    trials = np.ascontiguousarray(trials, dtype=np.float64)
    key = hashlib.sha1(repr((VERSION, trials.shape, NAVG, FOLDS, REPEATS, SMOOTH, C, TOL, seed)).encode())
    key.update(trials.tobytes())
    file = realnet_home() / 'cache' / 'eeg_rdms' / f'{name}-decoding-{key.hexdigest()[:16]}.npy'
    pairs, times = len(trials) * (len(trials) - 1) // 2, trials.shape[3]
    rdms, refused = _read_kept(file, key.hexdigest(), (times, pairs))
    if rdms is not None:
        return rdms
    check_trials(trials.shape[1], NAVG, FOLDS, REPEATS)  # before announcing minutes of work
    minutes = pairs * times * FOLDS * REPEATS * SECONDS_PER_SVM / (os.cpu_count() or 1) / 60
    from tqdm.auto import tqdm
    # `disable` only when asked: an explicit disable=False would override the command line's -q
    quiet = {} if progress else {'disable': True}
    with tqdm(total=pairs, desc=f'{name}: decoding RDM pairs', unit='pair', leave=False, **quiet) as bar:
        if not bar.disable:  # quiet (-q) means quiet: no notice either
            if refused:
                bar.write(f'warning: {file}: not used ({refused}); computing it again', file=sys.stderr)
            bar.write(f'{name}: computing pairwise-decoding EEG RDMs ({pairs} image pairs × {times} time points × '
                      f'{FOLDS * REPEATS} linear SVMs), roughly {minutes:.1f} min here; kept in {file.parent}',
                      file=sys.stderr)
        rdms = decoding.decoding_rdms(trials, seed=seed, bar=bar)
    if rdms.size and rdms.min() == rdms.max():  # as a kept file of this kind is refused: the score would be NaN
        raise RealnetError(f'{name}: every pairwise decoding accuracy is {rdms.flat[0]:g}, at every time point: '
                           'no RDM comparison is defined on these data')
    with atomic_path(file) as partial, open(partial, 'wb') as stream:
        np.save(stream, np.ascontiguousarray(rdms))  # C order: a Fortran-order file is not read back
        append_record(stream, key=key.hexdigest(), sha1=_digest(rdms))
    return rdms


def _read_kept(file, key: str, shape: tuple) -> tuple[np.ndarray | None, str]:
    """(the kept RDMs, '') if ``file`` holds those of ``key``; else (None, why not: '' for a file not
    there). A FIFO, device, folder or dangling link in its place is refused in one line, unopened."""
    found = kept(file, 'decoding RDM cache')
    if found is None:
        return None, 'not a whole cache file' if Path(file).exists() else ''
    if found.dtype != np.float64 or found.shape != shape:
        return None, f'{found.dtype} {found.shape}, not float64 {shape}'
    if found.record.get('key') != key:
        return None, 'its record names another key'
    try:
        rdms = read_array(file, found)
    except (OSError, ValueError):
        return None, 'not a whole cache file'
    reason = _unusable(rdms) or ('its digest does not match' if found.record.get('sha1') != _digest(rdms) else '')
    return (None, reason) if reason else (rdms, '')


def _unusable(rdms: np.ndarray) -> str:
    """Why ``rdms`` cannot be decoding accuracies ('' if they can): each is a fraction of correct
    answers, so finite and within [0, 1]; and accuracies that are all one value make every
    correlation with them undefined (a score of NaN)."""
    if not np.isfinite(rdms).all():
        return 'NaN or infinite values'
    if rdms.min() < 0 or rdms.max() > 1:
        return 'values outside [0, 1]'
    if rdms.size and rdms.min() == rdms.max():
        return 'every value the same'
    return ''


def _digest(rdms: np.ndarray) -> str:
    return hashlib.sha1(np.ascontiguousarray(rdms, dtype=np.float64).tobytes()).hexdigest()
