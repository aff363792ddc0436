"""How much the EEG form (raw or standardised, things_eeg2.EEG_FORMS) changes the decoding EEG RDMs,
beside the decoding's own randomness: ``python timing/eeg_form.py`` (from the repository root).

Two in-silico designs (synthetic.Design ``scales``): 'recorded', the EEG as released after
multivariate noise normalisation: noise whitened (sd 1 on every channel and time point), a signal
whose strength varies over channels (gains log-uniform over a factor of 10) and over time (zero
before the image, peaks at 90 and 170 ms); and 'flat' (the package's default design), noise of one
sd, relative to the signal, on every channel and time point (sd ~2-4 in absolute units). A small
release of each is written and each subject's test trials are decoded with this package's engine
(decoding.py, the authors' protocol) in both forms and with two decoding seeds. Printed per design,
averaged over subjects and the time points of the benchmark's window (50-350 ms):

- raw vs standardised: Spearman ρ between the two forms' RDMs (same seed) at each time point;
- seed to seed: Spearman ρ between two decoding seeds' RDMs of one form;
- |Δ accuracy|: the mean absolute difference of the decoding accuracies between the same two RDMs.

A measurement, not a test: figures depend on the design's size and seeds (not on the machine).
"""
import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from scipy.stats import rankdata

from realnet_brainscore.data import things_eeg2
from realnet_brainscore.decoding import decoding_rdms
from realnet_brainscore.records import time_mask
from realnet_brainscore.synthetic import SCALES, Design, write_things_eeg2

WINDOW = (0.05, 0.35)  # s: the temporal RSA benchmark's window
ROWS = (('raw vs standardised', ('raw', 0), ('standardised', 0)),
        ('seed to seed, standardised', ('standardised', 0), ('standardised', 1)),
        ('seed to seed, raw', ('raw', 0), ('raw', 1)))


def spearman_by_time(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Spearman ρ between two times × pairs RDMs at each time point (NaN where one is constant)."""
    a, b = (np.apply_along_axis(rankdata, 1, rdm) for rdm in (first, second))
    a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
    with np.errstate(invalid='ignore', divide='ignore'):
        return (a * b).sum(1) / np.sqrt((a * a).sum(1) * (b * b).sum(1))


def measure(design: Design, folder) -> dict[str, tuple[float, float]]:
    """{row: (mean Spearman ρ, mean |Δ accuracy|)} over ``design``'s subjects and the window's time points."""
    release = write_things_eeg2(Path(folder) / design.scales, design)
    found = {row: [] for row, *_ in ROWS}
    for subject in range(1, design.subjects + 1):
        _, _, times, trials = things_eeg2.trials(things_eeg2.load_subject(release, subject, 'test'))
        window = time_mask(times, *WINDOW)
        rdms = {(form, seed): decoding_rdms(things_eeg2.in_form(trials, form), seed=seed)[window]
                for form in things_eeg2.EEG_FORMS for seed in (0, 1)}
        for row, first, second in ROWS:
            found[row].append((np.nanmean(spearman_by_time(rdms[first], rdms[second])),
                               np.abs(rdms[first] - rdms[second]).mean()))
    return {row: tuple(np.mean(values, axis=0)) for row, values in found.items()}


def table(results: dict[str, dict]) -> str:
    lines = [f'{"design":10} {"RDMs compared":28} {"Spearman ρ":>10} {"|Δ accuracy|":>13}']
    for scales, rows in results.items():
        lines += [f'{scales:10} {row:28} {rho:10.3f} {delta:13.4f}' for row, (rho, delta) in rows.items()]
    return '\n'.join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(prog='python timing/eeg_form.py', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--images', type=int, default=12, help='test images per subject (%(default)s)')
    parser.add_argument('--subjects', type=int, default=2, help='in-silico subjects (%(default)s)')
    parser.add_argument('--repetitions', type=int, default=80, help='trials per image (%(default)s, as published)')
    parser.add_argument('--noise', type=float, default=Design.noise,
                        help='single-trial noise sd relative to the signal (%(default)g)')
    parser.add_argument('--seed', type=int, default=0, help="the design's seed (%(default)s)")
    parser.add_argument('--scales', nargs='+', choices=SCALES, default=list(SCALES),
                        help="the designs' scales (default %(default)s)")
    args = parser.parse_args(argv)
    results = {}
    with tempfile.TemporaryDirectory() as folder:
        for scales in args.scales:
            design = Design(subjects=args.subjects, concepts=4, images_per_concept=2, test_images=args.images,
                            test_repetitions=args.repetitions, image_size=32, noise=args.noise, seed=args.seed,
                            scales=scales)
            results[scales] = measure(design, folder)
    print(f'{args.subjects} subjects × {args.images} images × {args.repetitions} trials, noise {args.noise:g}, '
          f'seed {args.seed}; means over subjects and {WINDOW[0] * 1000:.0f}-{WINDOW[1] * 1000:.0f} ms')
    print(table(results))
    return results


if __name__ == '__main__':
    sys.exit(main() and 0)
