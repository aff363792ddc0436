"""The disk cache of pairwise-decoding EEG RDMs: computed once per data, settings and version of the
computation (``decoding.VERSION``), kept in ``$REALNET_HOME/cache/eeg_rdms``, then read back."""
import hashlib
import os
import sys

import numpy as np

from . import decoding
from .decoding import C, FOLDS, NAVG, REPEATS, SECONDS_PER_SVM, SMOOTH, TOL, VERSION, check_trials


def cached_decoding_rdms(trials: np.ndarray, name: str, seed: int = 0, progress: bool = True) -> np.ndarray:
    """``decoding_rdms`` with the authors' settings, kept in ``$REALNET_HOME/cache/eeg_rdms`` under a
    key of the data's contents, the settings and VERSION: computed once (saying so, with a rough
    duration, on stderr), then read back. ``name`` (e.g. 'sub-01') only labels the file."""
    from .files import atomic_path
    from .weights import realnet_home
    trials = np.ascontiguousarray(trials, dtype=np.float64)
    key = hashlib.sha1(repr((VERSION, trials.shape, NAVG, FOLDS, REPEATS, SMOOTH, C, TOL, seed)).encode())
    key.update(trials.tobytes())
    file = realnet_home() / 'cache' / 'eeg_rdms' / f'{name}-decoding-{key.hexdigest()[:16]}.npy'
    pairs, times = len(trials) * (len(trials) - 1) // 2, trials.shape[3]
    kept = _read_kept(file)
    if kept is not None and kept.shape == (times, pairs):
        return kept
    check_trials(trials.shape[1], NAVG, FOLDS, REPEATS)  # before announcing minutes of work
    minutes = pairs * times * FOLDS * REPEATS * SECONDS_PER_SVM / (os.cpu_count() or 1) / 60
    from tqdm.auto import tqdm
    # `disable` only when asked: an explicit disable=False would override the command line's -q
    quiet = {} if progress else {'disable': True}
    with tqdm(total=pairs, desc=f'{name}: decoding RDM pairs', unit='pair', leave=False, **quiet) as bar:
        if not bar.disable:  # quiet (-q) means quiet: no notice either
            bar.write(f'{name}: computing pairwise-decoding EEG RDMs ({pairs} image pairs × {times} time points × '
                      f'{FOLDS * REPEATS} linear SVMs), roughly {minutes:.1f} min here; kept in {file.parent}',
                      file=sys.stderr)
        rdms = decoding.decoding_rdms(trials, seed=seed, bar=bar)
    with atomic_path(file) as partial, open(partial, 'wb') as stream:
        np.save(stream, rdms)
    return rdms


def _read_kept(file):
    """A kept array, or None if it is missing or unreadable (e.g. cut short): then it is recomputed."""
    try:
        with open(file, 'rb') as stream:
            return np.load(stream, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
