"""`brainscore data check`: a data set read once, whole, and described; the first problem is one line.

What is described is data (``Summary``); the command only prints it. The noise ceiling is the one
our benchmarks divide by, on the test images: for M/EEG the leave-one-subject-out lower bound of
correlation RDMs (1 − Pearson r between repetition-averaged channel patterns) at each time point,
reported at its peak and averaged over the benchmarks' window; for fMRI the split-half reliability
of each ROI's RDM (Spearman–Brown corrected), averaged over subjects.
"""
from dataclasses import dataclass

import numpy as np

from ..errors import RealnetError
from ..rsa import eeg_rdms, noise_ceiling, split_half_reliability
from .dataset import DataSet

WINDOW = (0.05, 0.35)  # seconds: the temporal RSA benchmarks' default window


@dataclass(frozen=True)
class Summary:
    name: str
    format: str
    modality: str
    subjects: tuple[str, ...]
    images: int
    test_images: int
    training_images: int
    repetitions: dict          # split -> repetitions every image keeps (the fewest any image of any subject has)
    dropped: int               # trials left out to give every image of a split the same repetitions
    channels: tuple[str, ...]  # M/EEG channel names; fMRI: voxel labels
    times: tuple | None        # (first, last, number) seconds, M/EEG
    rois: dict                 # fMRI: ROI -> (voxels, model region)
    ceiling: dict              # M/EEG: {'peak': (value, time), 'window': value}; fMRI: ROI -> value


def summary(dataset: DataSet, card_format: str) -> Summary:
    """Every subject's every split read once (so each reader's checks run on all of it), then described."""
    tested = len(dataset.split_ids('test'))
    if tested < 3:  # every benchmark compares RDMs of the test images
        raise RealnetError(f'{dataset.source or dataset.name}: {tested} test images; an RDM, and so every benchmark, '
                           'needs at least 3')
    splits = ('test',) if dataset.test_images is None else ('training', 'test')
    repetitions, dropped, test = {}, 0, {}
    for subject in dataset.subjects:
        for split in splits:
            recording = dataset.recording(subject, split)
            repetitions[split] = min(repetitions.get(split, recording.repetitions), recording.repetitions)
            dropped += recording.dropped
            if split == 'test':
                test[subject] = recording
    first = next(iter(test.values()))
    times = None if first.times is None else (float(first.times[0]), float(first.times[-1]), len(first.times))
    rois = {roi: (len(columns), dataset.regions[roi]) for roi, columns in (dataset.rois or {}).items()}
    return Summary(dataset.name, card_format, dataset.modality, dataset.subjects, len(dataset.stimulus_ids), tested,
                   len(dataset.stimulus_ids) - tested, repetitions, dropped, first.channels, times, rois,
                   _ceiling(dataset, test))


def _ceiling(dataset: DataSet, test: dict) -> dict:
    if not dataset.timed:
        return {roi: float(np.mean([split_half_reliability(r.values[:, :, list(columns)]) for r in test.values()]))
                for roi, columns in (dataset.rois or {}).items()}
    if len(test) < 2:
        return {}  # a leave-one-subject-out bound needs two subjects
    recordings = list(test.values())
    with np.errstate(invalid='ignore', divide='ignore'):  # a constant RDM has no ceiling: said, not warned
        rdms = np.stack([eeg_rdms(r.values, 'correlation') for r in recordings])
        lower = noise_ceiling(rdms)[0]
    if not np.isfinite(lower).any():
        return {}
    times = recordings[0].times
    window = (times >= WINDOW[0]) & (times <= WINDOW[1])
    peak = int(np.nanargmax(lower))
    return {'peak': (float(lower[peak]), float(times[peak])),
            'window': float(np.nanmean(lower[window])) if window.any() else None}

