"""A BIDS EEG or MEG data set (card format ``bids``): continuous recordings cut into epochs around
each image's onset.

Reads, under the card's ``path`` (a BIDS root): the subjects (``sub-<label>`` folders, found with
``mne_bids.get_entity_vals``), each subject's recordings of the card's modality (datatype and
suffix ``eeg`` or ``meg``, any extension mne-bids allows for it, ``mne_bids.find_matching_paths``),
each read with ``mne_bids.read_raw_bids``, and the ``*_events.tsv`` beside each recording.

Format facts relied on:
- BIDS events.tsv (BIDS specification, "Task events"): tab-separated, a header row, ``onset`` in
  seconds from the recording's first sample, "n/a" for a missing value; the image of an event is
  in a column of its own, ``stim_file`` by default (the card's ``image_column``). Rows whose image
  is "n/a" or empty are not image events and are skipped.
- events.tsv is read here with the csv module (text, nothing executed), not through the
  annotations ``read_raw_bids`` makes: with MNE < 1.10 those drop every extra column, and with
  later versions mne-bids turns a column whose values all look like numbers into numbers ("0001"
  becomes 1), so an image named "0001" would be lost either way.
- An onset's sample is round(onset × sfreq) + ``raw.first_samp`` (MNE's events count from the
  first sample ever recorded, ``first_samp``; BIDS onsets from the file's first sample).
- ``mne.Epochs`` drops epochs whose window reaches beyond the recording (and, by default, those
  overlapping annotations marked BAD); ``epochs.selection`` lists the events it kept, which is how
  each kept epoch finds its image. Epochs are cut with the card's [epochs] tmin, tmax and baseline,
  no rejection by amplitude, and no SSP projection (the data as recorded).
- Values are MNE's, in SI units (V for EEG, T and T/m for MEG), as float32.

Channels: the card's ``channels``, else every channel of the modality's type (EEG: eeg; MEG: mag
and grad), bad ones included, so every subject has the same. A subject with several recordings
(runs, sessions, tasks) has each image's epochs of all of them, in the order of their file names.
Every subject must have the same channels, sampling rate and images; anything else is one line.
"""
import configparser
import csv
import struct
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import RealnetError, first_line, printable
from . import check_float32
from .card import Card, image_files, test_images
from .dataset import DataSet, Trials, check_alike

DEFAULT_IMAGE_COLUMN = 'stim_file'  # BIDS events.tsv: the stimulus file of each event
NOT_AN_IMAGE = ('', 'n/a')
# what MNE and mne-bids raise on a damaged file (BrainVision headers are INI files: configparser)
MNE_ERRORS = (OSError, EOFError, ValueError, RuntimeError, KeyError, IndexError, TypeError, UnicodeDecodeError,
              configparser.Error, struct.error)


@dataclass(frozen=True)
class _Recording:
    """One recording of a subject: its file, and its image events (onset in seconds, image name)."""
    bids_path: object                 # mne_bids.BIDSPath
    events: tuple[tuple[float, str], ...]
    channels: tuple[str, ...]
    sfreq: float

    @property
    def file(self) -> Path:
        return Path(self.bids_path.fpath)


def read(card: Card) -> DataSet:
    """The data set of a ``bids`` card: every subject's recordings of the card's modality."""
    root = card.data
    if not root.is_dir():
        raise RealnetError(f'{root}: no such folder; the card `path` of a bids data set is a BIDS root folder')
    subjects = _subject_labels(root)
    recordings = {subject: _subject_recordings(card, subject) for subject in subjects}
    _check_alike(recordings)
    stimulus_ids = tuple(dict.fromkeys(image for recording in recordings[subjects[0]]
                                       for _, image in recording.events))
    paths = image_files(card, stimulus_ids)

    def read_subject(subject: str, split: str | None = None) -> Trials:  # every split at once
        return _trials(card, subject, recordings[subject])

    return DataSet(name=card.name, modality=card.modality, visual_degrees=card.visual_degrees,
                   subjects=tuple(subjects), stimulus_ids=stimulus_ids, image_paths=tuple(paths),
                   test_images=test_images(card, stimulus_ids), read=read_subject, source=str(card.path))


def _subject_labels(root: Path) -> list[str]:
    import mne_bids
    try:
        labels = mne_bids.get_entity_vals(root, 'subject')
    except MNE_ERRORS as error:
        raise RealnetError(f'{root}: not readable as a BIDS root ({printable(first_line(error))[:200]})') from error
    if not labels:
        raise RealnetError(f'{root}: no sub-<label> folders; expected a BIDS root (dataset_description.json, '
                           'sub-01/, sub-02/, ...)')
    return [f'sub-{label}' for label in sorted(labels)]


def _subject_recordings(card: Card, subject: str) -> list[_Recording]:
    """``subject``'s recordings of the card's modality, each with its image events and channels."""
    import mne_bids
    from mne_bids.config import ALLOWED_DATATYPE_EXTENSIONS
    datatype = card.modality.lower()
    try:
        found = mne_bids.find_matching_paths(card.data, subjects=subject[4:], datatypes=datatype, suffixes=datatype,
                                             extensions=ALLOWED_DATATYPE_EXTENSIONS[datatype])
    except MNE_ERRORS as error:
        raise RealnetError(f'{card.data / subject}: not readable as BIDS ({printable(first_line(error))[:200]})') \
            from error
    # a recording split into several files (split-01, split-02) is read once, from its first part
    unsplit = {}
    for path in sorted(found, key=lambda p: (str(p.directory), p.basename)):
        unsplit.setdefault((str(path.directory), path.copy().update(split=None).basename), path)
    if not unsplit:
        raise RealnetError(f'{card.data / subject}: no {card.modality} recording ({datatype}/*_{datatype}.* with '
                           f'an extension mne-bids reads)')
    return [_recording(card, path) for path in unsplit.values()]


def _recording(card: Card, bids_path) -> _Recording:
    """A recording's image events (from its events.tsv) and channels and rate (from its header)."""
    events_name = bids_path.copy().update(split=None, suffix='events', extension='.tsv').basename
    events_tsv = Path(bids_path.directory) / events_name
    events = read_events_tsv(events_tsv, card.image_column or DEFAULT_IMAGE_COLUMN)
    raw = _raw(bids_path)
    return _Recording(bids_path, events, _channels(card, raw, Path(bids_path.fpath)), float(raw.info['sfreq']))


def read_events_tsv(path: Path, image_column: str) -> tuple[tuple[float, str], ...]:
    """(onset in seconds, image name) of each row of an events.tsv that names an image."""
    if not path.is_file():
        raise RealnetError(f'{path}: missing; a BIDS recording needs its events.tsv (onset and '
                           f'{image_column} of each image)')
    try:
        with open(path, newline='', encoding='utf-8-sig') as stream:
            rows = list(csv.reader(stream, delimiter='\t'))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise RealnetError(f'{path}: unreadable as a tab-separated events.tsv ({printable(first_line(error))[:200]})') \
            from error
    header = rows[0] if rows else []
    missing = [column for column in ('onset', image_column) if column not in header]
    if missing:
        raise RealnetError(f'{path}: no {" or ".join(f"`{c}`" for c in missing)} column; it has '
                           f'{printable(", ".join(header))[:300] or "no header"}')
    onset_at, image_at = header.index('onset'), header.index(image_column)
    events = []
    for number, row in enumerate(rows[1:], start=2):
        image = row[image_at].strip() if image_at < len(row) else ''
        if image in NOT_AN_IMAGE:
            continue
        try:
            onset = float(row[onset_at])
        except (IndexError, ValueError):
            onset = float('nan')
        if not np.isfinite(onset):
            raise RealnetError(f'{path}: line {number}: `onset` {printable(repr(row[onset_at:onset_at + 1]))[:80]} '
                               'is not a number of seconds')
        events.append((onset, image))
    if not events:
        raise RealnetError(f'{path}: no row names an image in its `{image_column}` column')
    return tuple(events)


def _raw(bids_path):
    import mne_bids
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # mne-bids warns about sidecar details that do not change the data
            return mne_bids.read_raw_bids(bids_path, verbose=False)
    except MNE_ERRORS as error:
        raise RealnetError(f'{bids_path.fpath}: unreadable by mne-bids ({type(error).__name__}: '
                           f'{printable(first_line(error))[:200]})') from error


def _channels(card: Card, raw, file: Path) -> tuple[str, ...]:
    if card.channels:
        missing = [channel for channel in card.channels if channel not in raw.ch_names]
        if missing:
            raise RealnetError(f'{file}: no channel {printable(missing[0])!r} of the card `channels` '
                               f'({len(missing)} of {len(card.channels)} missing)')
        return tuple(card.channels)
    import mne
    kind = {'eeg': True} if card.modality == 'EEG' else {'meg': True}
    picks = mne.pick_types(raw.info, **kind, exclude=())
    if not len(picks):
        raise RealnetError(f'{file}: no {card.modality} channels')
    return tuple(raw.ch_names[i] for i in picks)


def _check_alike(recordings: dict) -> None:
    """Every recording has the first one's channels and rate; every subject shows the same images."""
    first_subject = next(iter(recordings))
    first = recordings[first_subject][0]
    images = {image for _, image in first.events}
    for subject, subject_recordings in recordings.items():
        for recording in subject_recordings:
            check_alike(recording.file, first.file, recording.channels, first.channels, recording.sfreq, first.sfreq,
                        'recording')
        shown = {image for recording in subject_recordings for _, image in recording.events}
        if shown != images:
            differ = sorted(shown ^ images)
            raise RealnetError(f'{subject_recordings[0].file}: {subject} was shown {len(shown)} images, '
                               f'{first_subject} {len(images)}; {len(differ)} differ, e.g. '
                               f'{printable(differ[0])[:200]}')


def _trials(card: Card, subject: str, recordings: list) -> Trials:
    """Each image's epochs over all of ``subject``'s recordings."""
    trials, times = {}, None
    for recording in recordings:
        images, values, times = _epochs(card, recording)
        for image in dict.fromkeys(images):
            kept = values[[i for i, shown in enumerate(images) if shown == image]]
            trials[image] = kept if image not in trials else np.concatenate([trials[image], kept])
    return Trials(subject, trials, recordings[0].channels, times)


def _epochs(card: Card, recording: _Recording) -> tuple[list, np.ndarray, np.ndarray]:
    """(image of each kept epoch, epochs × channels × times float32, times) of one recording."""
    import mne
    raw = _raw(recording.bids_path)
    onsets = np.array([onset for onset, _ in recording.events])
    order = np.argsort(onsets, kind='stable')  # MNE wants events in time order
    samples = np.round(onsets[order] * recording.sfreq).astype(np.int64) + raw.first_samp
    events = np.column_stack([samples, np.zeros_like(samples), np.ones_like(samples)])
    window = card.epochs
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # "All epochs were dropped" is answered below, in one line
            epochs = mne.Epochs(raw, events, tmin=window.tmin, tmax=window.tmax, baseline=window.baseline,
                                picks=list(recording.channels), preload=True, reject=None, proj=False,
                                event_repeated='error', verbose=False)
    except MNE_ERRORS as error:
        raise RealnetError(f'{recording.file}: cannot cut epochs [{window.tmin}, {window.tmax}] s around the onsets '
                           f'of its events.tsv ({printable(first_line(error))[:200]})') from error
    if len(epochs) == 0:
        raise RealnetError(f'{recording.file}: the epoch window [{window.tmin}, {window.tmax}] s around every one of '
                           f'its {len(events)} image onsets reaches beyond the recording ({raw.times[-1]:g} s) or '
                           'into a BAD segment; check the card [epochs] and the events.tsv onsets')
    images = [recording.events[order[i]][1] for i in epochs.selection]
    values = check_float32(epochs.get_data(picks=list(recording.channels)), str(recording.file))
    return images, values, epochs.times.copy()
