"""A folder of MNE Epochs files, one per subject (card format ``mne-epochs``).

Reads, in the card's ``path`` folder, every ``sub-<label>-epo.fif`` or ``sub-<label>_epo.fif``
(the subject label from the file name, ``card.subject_label``), each with ``mne.read_epochs``;
writes nothing.

Format facts relied on:
- MNE names Epochs files ``*-epo.fif`` or ``*_epo.fif`` (``mne.Epochs.save`` warns otherwise).
  An Epochs file too large for one FIF file is saved in parts; with BIDS split naming they are
  ``..._split-01_epo.fif``, ``..._split-02_epo.fif``, ... and ``mne.read_epochs`` of the first part
  reads them all (MNE's ``_construct_bids_filename``), so later parts are not read on their own.
  Neuromag split naming (``...-epo-1.fif``) does not end in ``-epo.fif`` and needs nothing.
- ``Epochs.metadata`` is a pandas DataFrame with one row per kept epoch (MNE drops the rows of
  dropped epochs); MNE stores it in the FIF file as JSON (``mne.utils.mixin._prepare_write_metadata``),
  so reading it runs nothing. The card's ``image_column`` is the column naming each epoch's image,
  relative to the card's ``images`` folder. A row whose image is missing (None, NaN, "" or "n/a")
  is an epoch of no image and is skipped, as the bids reader skips events.tsv rows without one.
- Without such a column, ``event_images`` names a TSV (columns ``event``, ``image``) mapping each
  event to its image: an event is named by its key in ``Epochs.event_id`` or by its integer code
  (``Epochs.events[:, 2]``, one row per kept epoch); an epoch whose event the table leaves out is
  skipped.
- ``mne.read_epochs(preload=False)`` reads the header, metadata and times only; the samples are
  read by ``get_data``, which returns the channels ``picks`` names in that order, bad ones too.
  ``proj=False``: the data as stored, no SSP projector applied on reading.
- Values are MNE's, in SI units as stored (V for EEG, T and T/m for MEG), returned as float32.

Channels: the card's ``channels``, else every channel of the modality's type (EEG: eeg; MEG: mag
and grad, not reference magnetometers), bad ones included, so every subject has the same. Every
subject must have the same channels, sampling rate, time points and images; anything else is one
line naming the file.
"""
import math
import re
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import RealnetError, first_line, printable
from ..files import regular_file
from . import check_float32
from .bids import MNE_ERRORS
from .card import Card, image_files, subject_label, test_images
from .dataset import DataSet, Trials, check_alike
from .tsv import read_columns

SUFFIXES = ('-epo.fif', '_epo.fif')
LATER_SPLIT = re.compile(r'_split-0*(?:[2-9]|[1-9]\d+)_epo\.fif$')  # read through the split-01 part
NOT_AN_IMAGE = ('', 'n/a')


@dataclass(frozen=True)
class _Header:
    """What ``read`` learns of one subject's file without reading its samples."""
    file: Path
    images: tuple                      # each epoch's image name, None for an epoch of no image
    channels: tuple[str, ...]
    sfreq: float
    times: np.ndarray


def read(card: Card) -> DataSet:
    """The data set of an ``mne-epochs`` card: every subject's Epochs file, checked for consistency
    from their headers; a subject's samples are read when ``DataSet.read`` asks for them."""
    if not card.image_column and card.event_images is None:
        raise RealnetError(f'{card.path}: format mne-epochs needs "image_column", the Epochs metadata column '
                           'naming each epoch\'s image, or "event_images", a table of event -> image')
    table = None if card.image_column else event_table(card.event_images)
    headers = {subject: _header(card, file, table) for subject, file in epochs_files(card.data).items()}
    _check_alike(headers)
    first = next(iter(headers.values()))
    stimulus_ids = tuple(dict.fromkeys(image for image in first.images if image is not None))
    paths = image_files(card, stimulus_ids)

    def read_subject(subject: str, split: str | None = None) -> Trials:  # every split at once
        return _trials(subject, headers[subject])

    return DataSet(name=card.name, modality=card.modality, visual_degrees=card.visual_degrees,
                   subjects=tuple(headers), stimulus_ids=stimulus_ids, image_paths=tuple(paths),
                   test_images=test_images(card, stimulus_ids), read=read_subject, source=str(card.path))


def epochs_files(folder: Path) -> dict:
    """Subject label -> its Epochs file in ``folder``, in the order of the labels."""
    if not folder.is_dir():
        raise RealnetError(f'{folder}: no such folder; the card "path" of an mne-epochs data set is a folder of '
                           'sub-<label>-epo.fif files')
    files = {}
    for path in sorted(folder.iterdir()):
        if not path.name.endswith(SUFFIXES) or LATER_SPLIT.search(path.name):
            continue
        label = subject_label(path.name)
        if label is None:
            raise RealnetError(f'{printable(str(path))}: an Epochs file not named sub-<label>-epo.fif; each file '
                               "here is one subject's, its name starting with that subject's BIDS label")
        if label in files:
            raise RealnetError(f'{printable(str(path))}: a second Epochs file of {label} (besides '
                               f'{printable(files[label].name)}); keep one file per subject')
        files[label] = regular_file(path, 'Epochs file')
    if not files:
        raise RealnetError(f'{folder}: no Epochs files (sub-<label>-epo.fif or sub-<label>_epo.fif)')
    return dict(sorted(files.items()))


def _open(file: Path):
    """``mne.read_epochs`` of ``file``, headers only; MNE's error on a damaged file as one line."""
    import mne
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # e.g. "Invalid tag": the error that follows says it in one line
            return mne.read_epochs(file, proj=False, preload=False, verbose='error')
    except MNE_ERRORS as error:
        raise RealnetError(f'{printable(str(file))}: unreadable by mne.read_epochs ({type(error).__name__}: '
                           f'{printable(first_line(error))[:200]})') from error


def _header(card: Card, file: Path, table: dict | None) -> _Header:
    """What ``read`` needs of one subject's file; each epoch's image from the metadata column, or
    from the event -> image ``table``."""
    epochs = _open(file)
    images = (_images(card.image_column, epochs.metadata, file) if table is None else
              _event_images(table, epochs, file))
    return _Header(file, images, _channels(card, epochs.info, file), float(epochs.info['sfreq']),
                   np.asarray(epochs.times, dtype=float).copy())


def event_table(path: Path) -> dict:
    """Event (a name of ``Epochs.event_id`` or an integer code, as text) -> image name, from the TSV
    at ``path`` with columns ``event`` and ``image``; each event once."""
    table = {}
    for event, image in read_columns(path, ('event', 'image'), 'event -> image table (TSV)'):
        if event in table and table[event] != image:
            raise RealnetError(f'{path}: event {printable(event)[:80]!r} names two images')
        table[event] = image
    return table


def _event_images(table: dict, epochs, file: Path) -> tuple:
    """Each epoch's image from its event: by the event's name (``Epochs.event_id``), else its code;
    None for an event the table does not name (a catch trial, a response)."""
    names = {code: name for name, code in epochs.event_id.items()}
    images = tuple(table.get(names.get(int(code)), table.get(str(int(code)))) for code in epochs.events[:, 2])
    if all(image is None for image in images):
        raise RealnetError(f'{printable(str(file))}: no epoch\'s event is in the event -> image table (its events: '
                           f'{printable(", ".join(list(epochs.event_id)[:8]))[:200]})')
    return images


def _images(column: str, metadata, file: Path) -> tuple:
    """Each epoch's image name from ``metadata[column]``; None for an epoch that names none."""
    if metadata is None:
        raise RealnetError(f'{printable(str(file))}: its Epochs have no metadata; expected a metadata column '
                           f'"{printable(column)}" naming each epoch\'s image')
    if column not in metadata.columns:
        raise RealnetError(f'{printable(str(file))}: its Epochs metadata has no column "{printable(column)}"; it has '
                           f'{printable(", ".join(map(str, metadata.columns)))[:300] or "none"}')
    images = []
    for number, value in enumerate(metadata[column].tolist()):
        if value is None or (isinstance(value, float) and math.isnan(value)) or value in NOT_AN_IMAGE:
            images.append(None)
        elif isinstance(value, str):
            images.append(value)
        else:
            raise RealnetError(f'{printable(str(file))}: epoch {number} of metadata column "{printable(column)}" '
                               f'is {printable(repr(value))[:80]} ({type(value).__name__}); expected an image name')
    if all(image is None for image in images):
        raise RealnetError(f'{printable(str(file))}: no epoch names an image in metadata column "{printable(column)}"')
    return tuple(images)


def _channels(card: Card, info, file: Path) -> tuple[str, ...]:
    """The card's channels, each present in ``info``; else every channel of the card's modality."""
    if card.channels:
        missing = [channel for channel in card.channels if channel not in info['ch_names']]
        if missing:
            raise RealnetError(f'{printable(str(file))}: no channel {printable(repr(missing[0]))} of the card '
                               f'"channels" ({len(missing)} of {len(card.channels)} missing)')
        return tuple(card.channels)
    import mne
    kind = {'eeg': True} if card.modality == 'EEG' else {'meg': True, 'ref_meg': False}
    picks = mne.pick_types(info, **kind, exclude=())
    if not len(picks):
        raise RealnetError(f'{printable(str(file))}: no {card.modality} channels (its channels are of type '
                           f'{", ".join(info.get_channel_types(unique=True))})')
    return tuple(info['ch_names'][i] for i in picks)


def _check_alike(headers: dict) -> None:
    """Every subject has the first one's channels, rate, time points and images."""
    first_subject, first = next(iter(headers.items()))
    images = set(first.images) - {None}
    for subject, header in headers.items():
        where = printable(str(header.file))
        check_alike(header.file, first.file, header.channels, first.channels, header.sfreq, first.sfreq)
        if header.times.shape != first.times.shape or not np.allclose(header.times, first.times, rtol=0, atol=1e-6):
            raise RealnetError(f'{where}: epochs of {len(header.times)} time points from {header.times[0]:g} s, '
                               f'{printable(str(first.file))} of {len(first.times)} from {first.times[0]:g} s; '
                               'every subject needs the same time points')
        shown = set(header.images) - {None}
        if shown != images:
            differ = sorted(shown ^ images)
            raise RealnetError(f'{where}: {subject} was shown {len(shown)} images, {first_subject} {len(images)}; '
                               f'{len(differ)} differ, e.g. {printable(differ[0])[:200]}')


def _trials(subject: str, header: _Header) -> Trials:
    """Each image's epochs of ``subject``, in the order of the file."""
    epochs = _open(header.file)
    if len(epochs) != len(header.images):
        raise RealnetError(f'{printable(str(header.file))}: holds {len(epochs)} epochs, {len(header.images)} when '
                           'the data set was opened; it changed since')
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # as in _open
            values = epochs.get_data(picks=list(header.channels), verbose='error')
    except MNE_ERRORS as error:
        raise RealnetError(f'{printable(str(header.file))}: its samples are unreadable by MNE ({type(error).__name__}'
                           f': {printable(first_line(error))[:200]})') from error
    if not np.isfinite(values).all():
        raise RealnetError(f'{printable(str(header.file))}: {int((~np.isfinite(values)).sum())} values are NaN or '
                           'infinite')
    values = check_float32(values, printable(str(header.file)))
    rows = {}
    for row, image in enumerate(header.images):
        if image is not None:
            rows.setdefault(image, []).append(row)
    return Trials(subject, {image: values[indices] for image, indices in rows.items()}, header.channels,
                  header.times)
