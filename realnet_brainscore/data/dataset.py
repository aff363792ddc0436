"""A data set, whatever its source: the one concept training, benchmarks and the CLI read recordings
through.

A data set is a stimulus table (each image's id and file), per subject the responses to those
images (images × repetitions × channels, × time points for M/EEG; voxels instead of channels for
fMRI), the modality, the channel names or ROIs, the time points, and which images are for testing
(the rest are for training). A reader makes one: ``things_eeg2`` and ``shen2019`` for the two
published data sets, ``mne_epochs``, ``bids`` and ``fmri_betas`` for a card (``card.py``); nothing
downstream knows which file format it came from.

Every subject of a data set has the same channels (or voxel count), time points and images; a
reader refuses anything else in one line. Repetitions: each image keeps as many as the image with
the fewest has in its split (``Recording.dropped`` counts what was left out), so that a split is one
array.
"""
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import RealnetError, printable

MODALITIES = ('EEG', 'MEG', 'fMRI')
SPLITS = ('training', 'test')


def numbered_subject(subject: int) -> str:
    """The label of a data set's subject number N: sub-NN, as BIDS and this package name subjects
    (`train --subject 1`, a personal model's -s01)."""
    return f'sub-{subject:02d}'


@dataclass(frozen=True)
class Recording:
    """One subject's responses to the images of one split, image-major."""
    subject: str                       # 'sub-01': the data set's own subject label
    stimulus_ids: tuple[str, ...]      # one per image, in the order of ``values``
    image_paths: tuple[Path, ...]      # the image file of each stimulus id
    values: np.ndarray                 # images × repetitions × channels [× times], float32
    channels: tuple[str, ...]          # M/EEG channel names; fMRI voxel labels
    times: np.ndarray | None = None    # seconds, one per time point (M/EEG); None for fMRI
    dropped: int = 0                   # repetitions left out to give every image the same number

    @property
    def repetitions(self) -> int:
        return self.values.shape[1]

    def averaged(self) -> np.ndarray:
        """images × channels [× times]: the mean over repetitions (training targets, RDMs of means)."""
        return self.values.mean(axis=1)


@dataclass(frozen=True)
class Trials:
    """What a reader reads of one subject: every image's trials, however many each has."""
    subject: str
    trials: dict                       # stimulus id -> repetitions × channels [× times] array
    channels: tuple[str, ...]
    times: np.ndarray | None = None


@dataclass(frozen=True)
class DataSet:
    """What a reader gives: the data set's description and a way to read each subject."""
    name: str                          # names its benchmarks: <name>.<region>-temporal_rsa, <name>.<roi>-rsa
    modality: str                      # one of MODALITIES
    visual_degrees: float              # how large the images were on the participants' screen
    subjects: tuple[str, ...]          # subject labels, in order
    stimulus_ids: tuple[str, ...]      # every image, in the data set's order
    image_paths: tuple[Path, ...]      # the file of each stimulus id
    test_images: frozenset | None      # stimulus ids held out for testing; None: none named (all test)
    # (subject, split) -> Trials holding at least that split's images (a reader may give them all;
    # split None: every image)
    read: Callable[..., Trials] = field(repr=False)
    rois: dict | None = None           # fMRI: ROI -> voxel column indices of a subject's recording
    regions: dict | None = None        # fMRI: ROI -> the model region it is compared with
    source: str = ''                   # what was read (a folder or card), for messages

    @property
    def timed(self) -> bool:
        """M/EEG: responses have a time axis."""
        return self.modality != 'fMRI'

    def split_ids(self, split: str) -> tuple[str, ...]:
        """The stimulus ids of ``split`` ('training' or 'test'), in the data set's order. Without
        named test images every image is a test image and there is no training split."""
        if split not in SPLITS:
            raise RealnetError(f"unknown split {split!r}: choose training or test")
        if self.test_images is None:
            if split == 'training':
                raise RealnetError(no_training_split(self.source or self.name))
            return self.stimulus_ids
        return tuple(i for i in self.stimulus_ids if (i in self.test_images) == (split == 'test'))

    def recording(self, subject: str, split: str) -> Recording:
        """``subject``'s responses to the images of ``split``, every image cut to the repetitions of
        the image with the fewest in that split."""
        if subject not in self.subjects:
            raise RealnetError(f'{self.source or self.name}: no subject {subject!r} (it holds '
                               f'{", ".join(self.subjects[:10])}{" …" if len(self.subjects) > 10 else ""})')
        ids = self.split_ids(split)
        read = self.read(subject, split)
        missing = [i for i in ids if len(read.trials.get(i, ())) == 0]
        if missing:
            raise RealnetError(f'{self.source or self.name}: {subject} has no responses to {len(missing)} of the '
                               f'{len(ids)} {split} images, e.g. {missing[0]}')
        path = dict(zip(self.stimulus_ids, self.image_paths))
        return equal_repetitions(subject, ids, [path[i] for i in ids], [read.trials[i] for i in ids], read.channels,
                                 read.times)


def no_training_split(source) -> str:
    """Why a data set that names no test images cannot be trained on."""
    return (f'{source}: names no test images, so every image is a test image and training would train on the '
            "images its benchmarks test; name them in the card's test_images (or `brainscore data init "
            '--test-fraction F`)')


def equal_repetitions(subject: str, stimulus_ids, image_paths, trials: list, channels, times=None) -> Recording:
    """A Recording from each image's trials (per image: repetitions × channels [× times]), each image
    cut to the fewest repetitions any of them has (at least one)."""
    counts = [len(t) for t in trials]
    if not counts:
        raise RealnetError(f'{subject}: no images')
    fewest = min(counts)
    values = np.stack([np.asarray(t[:fewest], dtype=np.float32) for t in trials])
    return Recording(subject, tuple(stimulus_ids), tuple(map(Path, image_paths)), values, tuple(channels),
                     None if times is None else np.asarray(times, dtype=float), sum(counts) - fewest * len(counts))


def check_alike(where, first_where, channels, first_channels, sfreq, first_sfreq, unit: str = 'subject') -> None:
    """A recording (file ``where``) has the channels and sampling rate of the first one (``first_where``),
    as every subject of a data set must; else one line naming both files."""
    where, first_where = printable(str(where)), printable(str(first_where))
    if tuple(channels) != tuple(first_channels):
        differ = sorted(set(channels) ^ set(first_channels)) or ['their order']
        raise RealnetError(f'{where}: channels differ from those of {first_where} ({len(channels)} against '
                           f'{len(first_channels)}; e.g. {printable(differ[0])}); every {unit} needs the same channels')
    if sfreq != first_sfreq:
        raise RealnetError(f'{where}: sampled at {sfreq:g} Hz, {first_where} at {first_sfreq:g} Hz; every {unit} '
                           'needs the same rate')
