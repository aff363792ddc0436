"""Timing of the decoding EEG RDMs beside the authors' toolbox: ``python timing/decoding_rdms.py``.

One in-silico subject at the published size (200 images × 80 trials × 17 channels × 100 time
points) is decoded here for every pair; NeuroRA 1.1.6.12 ``tbyt_decoding_kfold``, with the authors'
settings, decodes the first ``--neurora-pairs`` pairs of the same data. Printed: seconds per pair of
each, one subject's time, and the ratio. NeuroRA comes with the test extra (``pip install -e '.[test]'``).
A timing script, not a test: its figures depend on the machine.
"""
import argparse
import os
import time

import numpy as np

from realnet_brainscore.data.things_eeg2 import standardise
from realnet_brainscore.decoding import FOLDS, NAVG, REPEATS, decoding_rdms


def synthetic_trials(images: int, trials: int = 80, channels: int = 17, times: int = 100, seed: int = 0):
    """Image-specific patterns peaking mid-epoch under trial noise three times as large, in the
    benchmarks' standardised form (images × trials × channels × times): decoding accuracy is near
    chance at most time points, as in real EEG, which is what makes SVMs slow to solve."""
    rng = np.random.default_rng(seed)
    envelope = np.exp(-0.5 * ((np.arange(times) - 40) / 12) ** 2)
    signal = rng.normal(size=(images, 1, channels, 1)) * envelope
    return standardise(signal + 3 * rng.normal(size=(images, trials, channels, times)))


def neurora_seconds_per_pair(trials: np.ndarray, pairs: int) -> float:
    from neurora.decoding import tbyt_decoding_kfold
    began = time.perf_counter()
    for first, second in zip(*np.triu_indices(len(trials), 1)):
        if pairs == 0:
            break
        data = np.concatenate([trials[first], trials[second]])[None]
        labels = np.repeat([0, 1], len(trials[first]))[None]
        tbyt_decoding_kfold(data, labels, n=2, navg=NAVG, time_opt='average', time_win=1, time_step=1,
                            nfolds=FOLDS, nrepeats=REPEATS, normalization=False, pca=False, smooth=True)
        pairs -= 1
    return time.perf_counter() - began


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python timing/decoding_rdms.py', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--images', type=int, default=200, help='test images of the subject (200, as published)')
    parser.add_argument('--neurora-pairs', type=int, default=2, help='pairs NeuroRA decodes (each ≈ 10 s)')
    args = parser.parse_args(argv)
    trials = synthetic_trials(args.images)
    pairs = args.images * (args.images - 1) // 2
    decoding_rdms(trials[:3])  # compile (numba caches it on disk afterwards)
    began = time.perf_counter()
    decoding_rdms(trials, progress=True)
    ours = time.perf_counter() - began
    print(f'this package: {pairs} pairs in {ours:.1f} s ({ours / pairs * 1000:.2f} ms a pair) on '
          f'{os.cpu_count()} cores')
    try:
        neurora = neurora_seconds_per_pair(trials, args.neurora_pairs) / args.neurora_pairs
    except ImportError:
        print('NeuroRA is not installed (pip install neurora==1.1.6.12): no ratio')
        return
    print(f'NeuroRA 1.1.6.12: {neurora:.2f} s a pair on one core -> {neurora * pairs / 3600:.1f} h for {pairs} pairs')
    print(f'ratio: {neurora * pairs / ours:.0f}x (per core: {neurora * pairs / ours / os.cpu_count():.0f}x)')


if __name__ == '__main__':
    main()
