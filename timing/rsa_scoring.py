"""Time the THINGS-EEG2 temporal RSA scoring at the published size, on this machine's CPUs.

    python timing/rsa_scoring.py [--folder DIR]

Writes (once) an in-silico release of the published test-set shape — 10 subjects × 200 images ×
80 repetitions × 17 channels × 100 time points — then times what scoring one model on the four
region benchmarks costs once the model's features are extracted: reading the EEG, the EEG RDMs of
every subject and time point, the noise ceiling, and for each region the model RDM (features of
CORnet-S's size at 224 px), the Spearman time courses, the Score and its 95 % interval (the
bootstrap over subjects and images every score carries by default, 1000 samples). Prints wall time
and peak RSS.
"""
import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np

WINDOW = (0.05, 0.35)  # s: the benchmarks' window
AREA_FEATURES = {'V1': 64 * 56 * 56, 'V2': 128 * 28 * 28, 'V4': 256 * 14 * 14, 'IT': 512 * 7 * 7}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='python timing/rsa_scoring.py', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--folder', type=Path, help='where the in-silico release is (or is written)')
    args = parser.parse_args(argv)
    from realnet_brainscore.benchmarks.gifford2022_temporal_rsa.benchmark import eeg_reference, temporal_score
    from realnet_brainscore.data.things_eeg2 import subject_name
    from realnet_brainscore.inference import score_interval
    from realnet_brainscore.rsa import model_rdm, spearman
    from realnet_brainscore.synthetic import Design, write_things_eeg2
    folder = args.folder or Path(tempfile.gettempdir()) / 'realnet-rsa-timing'
    if not (folder / 'preprocessed_data' / subject_name(10)).is_dir():
        began = time.perf_counter()
        write_things_eeg2(folder, Design(subjects=10, concepts=2, images_per_concept=1, test_images=200,
                                         test_repetitions=80, image_size=32))
        print(f'wrote the in-silico release to {folder} in {time.perf_counter() - began:.0f} s')
    rng = np.random.default_rng(0)
    began = time.perf_counter()
    reference = eeg_reference(str(folder.resolve()), None, 'correlation')
    loaded = time.perf_counter()
    intervals = 0.0
    for area, size in AREA_FEATURES.items():
        features = rng.standard_normal((200, size), dtype=np.float32)
        rdm = model_rdm(features)
        score = temporal_score(spearman(rdm, reference.rdms), reference, WINDOW)
        del features
        started = time.perf_counter()
        score.attrs.update(score_interval(rdm, reference.rdms, float(score.attrs['ceiling']),
                                          reference.in_window(WINDOW)))
        intervals += time.perf_counter() - started
    done = time.perf_counter()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f'EEG read + RDMs + ceiling: {loaded - began:.1f} s; four regions: {done - loaded:.1f} s (of which '
          f'their intervals {intervals:.1f} s); '
          f'total {done - began:.1f} s (target <= 60 s); peak RSS {peak:.0f} MiB (target <= 4096 MiB); '
          f'last score {float(score):.3f}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
