"""A data-set card: a short TOML file that says where a lab's recordings are and how to read them.

    name = "MyLab"                  # names its benchmarks: MyLab.IT-temporal_rsa, MyLab.V1-rsa
    format = "mne-epochs"           # mne-epochs | bids | fmri-betas
    modality = "EEG"                # EEG | MEG | fMRI
    path = "epochs"                 # the recordings, relative to the card's folder
    images = "stimuli"              # the folder the image names in the data are relative to
    visual_degrees = 8.0            # how large the images were on the participants' screen
    image_column = "image"          # the metadata / events.tsv column naming each epoch's image
    event_images = "events.tsv"     # mne-epochs, instead of image_column: a TSV of event -> image
    channels = ["O1", "Oz", "O2"]   # M/EEG: these channels only (default: every EEG/MEG channel)
    window = [0.0, 0.2]             # M/EEG: the training targets' time window, seconds
    test_images = ["a.png", "b.png"]  # the held-out images (default: none named, every image is a test image)

    [epochs]                        # bids: how the raw recordings are cut into epochs
    tmin = -0.2
    tmax = 0.8
    baseline = [-0.2, 0.0]          # omit for none

    [fmri]                          # fmri-betas
    table = "stimuli.tsv"           # one row per row of each subject's betas; image_column names the image
    rois = { V1 = "rois/V1.npy" }   # voxel columns of each ROI: an index list or a boolean mask (.npy)
    regions = { V1 = "V1" }         # the model region each ROI is compared with (default: by name, else IT)

A path is absolute or relative to the card's folder: the card is the user's own word, like a
command-line flag. Names the data give (image files) stay inside their
folders (``files.inside``). The card is read with ``tomllib`` (data, never code); each problem is
one line naming the card and the key.
"""
import json
import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import RealnetError, printable
from ..files import inside, regular_file
from .dataset import MODALITIES, DataSet

FORMATS = ('mne-epochs', 'bids', 'fmri-betas')
WINDOW = (0.0, 0.2)  # seconds: THINGS-EEG2's training targets (17 channels × 0–200 ms)
MAX_CARD_BYTES = 1 << 20  # a card is a few lines; anything larger is not one
# fMRI ROIs compared with the model region of the same name; any other ROI with IT
REGION_OF_ROI = {'V1': 'V1', 'V2': 'V2', 'V3': 'V2', 'V4': 'V4', 'hV4': 'V4'}


@dataclass(frozen=True)
class Epoching:
    tmin: float
    tmax: float
    baseline: tuple[float, float] | None = None


@dataclass(frozen=True)
class Card:
    path: Path                         # the card file
    name: str
    format: str
    modality: str
    data: Path                         # `path`, resolved against the card's folder
    images: Path
    visual_degrees: float = 8.0
    image_column: str | None = None
    event_images: Path | None = None   # mne-epochs: a TSV mapping each event (name or code) to its image
    channels: tuple[str, ...] | None = None
    window: tuple[float, float] = WINDOW
    test_images: tuple[str, ...] | None = None
    epochs: Epoching | None = None
    table: Path | None = None          # fmri-betas
    rois: dict = field(default_factory=dict)     # ROI -> mask file
    regions: dict = field(default_factory=dict)  # ROI -> model region

    @property
    def folder(self) -> Path:
        return self.path.parent

    def region_of(self, roi: str) -> str:
        return self.regions.get(roi) or REGION_OF_ROI.get(roi, 'IT')


def load_card(path) -> Card:
    """The card at ``path``, every key checked; one line naming the card and the key otherwise."""
    path = regular_file(path, 'data-set card')
    if path.stat().st_size > MAX_CARD_BYTES:
        raise RealnetError(f'{path}: {path.stat().st_size} bytes; a data-set card is a short TOML file')
    try:
        return parse_card(path.resolve(), path.read_bytes().decode('utf-8'))
    except UnicodeDecodeError as error:
        raise RealnetError(f'{path}: not a TOML data-set card (byte {error.start} is not UTF-8)') from error


def parse_card(path: Path, text: str) -> Card:
    """The card ``text`` would be as the file ``path`` (its folder anchors relative paths)."""
    try:
        content = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise RealnetError(f'{path}: not a TOML data-set card ({printable(str(error))[:200]})') from error
    return _card(path, content)


def _card(path: Path, content: dict) -> Card:
    read = _Reader(path, content)
    name = read.text('name', required=True)
    if not name.replace('_', '').replace('-', '').isalnum() or not name[0].isalpha() or len(name) > 64:
        raise RealnetError(f'{path}: "name" {printable(repr(name))[:80]} must start with a letter and hold only '
                           'letters, digits, _ and - (at most 64): it names benchmarks')
    card_format = read.choice('format', FORMATS)
    modality = read.choice('modality', MODALITIES)
    if (modality == 'fMRI') != (card_format == 'fmri-betas'):
        raise RealnetError(f'{path}: format {card_format} holds {"fMRI" if card_format == "fmri-betas" else "EEG or MEG"}'
                           f' recordings, not {modality}')
    epochs = read.table('epochs')
    fmri = read.table('fmri')
    card = Card(path=path, name=name, format=card_format, modality=modality, data=read.path_of('path', required=True),
                images=read.path_of('images', required=True), visual_degrees=read.number('visual_degrees', 8.0),
                image_column=read.text('image_column'), event_images=read.path_of('event_images'),
                channels=read.texts('channels'),
                window=read.interval('window', WINDOW), test_images=read.texts('test_images'),
                epochs=_epoching(read, epochs) if epochs or card_format == 'bids' else None,
                table=read.path_of('table', section=fmri, key='fmri.table') if fmri else None,
                rois={roi: read.path_of(roi, section=fmri['rois'], key=f'fmri.rois.{roi}')
                      for roi in read.rois(fmri)},
                regions=read.regions(fmri))
    read.unknown()
    if card.event_images is not None and (card_format != 'mne-epochs' or card.image_column):
        raise RealnetError(f'{path}: "event_images" is for format mne-epochs without "image_column" (each epoch\'s '
                           'image comes from one of the two)')
    if card_format == 'fmri-betas' and (card.table is None or not card.rois):
        raise RealnetError(f'{path}: format fmri-betas needs [fmri] table and rois')
    return card


def _epoching(read: '_Reader', epochs: dict | None) -> Epoching:
    epochs = epochs or {}
    tmin = read.number('tmin', -0.2, section=epochs, key='epochs.tmin', positive=False)
    tmax = read.number('tmax', 0.8, section=epochs, key='epochs.tmax', positive=False)
    if not tmin < tmax:
        raise RealnetError(f'{read.path}: "epochs.tmin" must be below "epochs.tmax", got {tmin} and {tmax}')
    baseline = read.interval('baseline', None, section=epochs, key='epochs.baseline')
    return Epoching(tmin, tmax, baseline)


class _Reader:
    """Typed, checked reads of a card's keys; ``unknown()`` refuses keys no read asked for (a typo)."""
    KNOWN = {'name', 'format', 'modality', 'path', 'images', 'visual_degrees', 'image_column', 'event_images',
             'channels', 'window',
             'test_images', 'test_fraction', 'seed', 'epochs', 'fmri'}

    def __init__(self, path: Path, content: dict):
        self.path, self.content = path, content

    def _get(self, name, section, key, required=False):
        section = self.content if section is None else section
        if name not in section:
            if required:
                raise RealnetError(f'{self.path}: "{key or name}" is missing')
            return None
        return section[name]

    def _wrong(self, key, value, expected):
        return RealnetError(f'{self.path}: "{key}" is {printable(repr(value))[:80]}; expected {expected}')

    def text(self, name, required=False, section=None, key=None) -> str | None:
        value = self._get(name, section, key, required)
        if value is not None and (not isinstance(value, str) or not value or len(value) > 1000):
            raise self._wrong(key or name, value, 'a non-empty text')
        return value

    def texts(self, name) -> tuple[str, ...] | None:
        value = self._get(name, None, None)
        if value is None:
            return None
        if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
            raise self._wrong(name, value, 'a non-empty list of texts')
        if len(set(value)) < len(value):
            raise RealnetError(f'{self.path}: "{name}" names {next(v for v in value if value.count(v) > 1)!r} twice')
        return tuple(value)

    def choice(self, name, choices) -> str:
        value = self.text(name, required=True)
        if value not in choices:
            raise self._wrong(name, value, ' or '.join(choices))
        return value

    def number(self, name, default, section=None, key=None, positive=True) -> float:
        value = self._get(name, section, key)
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                or (positive and value <= 0):
            raise self._wrong(key or name, value, 'a positive number' if positive else 'a number')
        return float(value)

    def interval(self, name, default, section=None, key=None):
        value = self._get(name, section, key)
        if value is None:
            return default
        if (not isinstance(value, list) or len(value) != 2 or any(isinstance(v, bool) or not isinstance(v, (int, float))
                                                                 or not math.isfinite(v) for v in value)
                or not value[0] < value[1]):
            raise self._wrong(key or name, value, 'two numbers [start, end], start below end (seconds)')
        return (float(value[0]), float(value[1]))

    def table(self, name) -> dict | None:
        value = self._get(name, None, None)
        if value is not None and not isinstance(value, dict):
            raise self._wrong(name, value, f'a [{name}] table')
        return value

    def path_of(self, name, required=False, section=None, key=None) -> Path | None:
        """A path key: absolute, or relative to the card's folder."""
        value = self.text(name, required, section, key)
        return None if value is None else (self.path.parent / value).resolve()

    def rois(self, fmri: dict | None) -> list[str]:
        rois = (fmri or {}).get('rois', {})
        if not isinstance(rois, dict) or not all(isinstance(v, str) for v in rois.values()):
            raise self._wrong('fmri.rois', rois, 'a table of ROI = "mask file"')
        return list(rois)

    def regions(self, fmri: dict | None) -> dict:
        regions = (fmri or {}).get('regions', {})
        if not isinstance(regions, dict) or not all(isinstance(v, str) and v for v in regions.values()):
            raise self._wrong('fmri.regions', regions, 'a table of ROI = "model region"')
        unknown = sorted(set(regions) - set((fmri or {}).get('rois', {})))
        if unknown:
            raise RealnetError(f'{self.path}: "fmri.regions" names {unknown[0]!r}, which "fmri.rois" does not')
        return dict(regions)

    def unknown(self):
        extra = sorted(set(self.content) - self.KNOWN)
        if extra:
            raise RealnetError(f'{self.path}: unknown key "{printable(extra[0])[:60]}" (a card has: '
                               f'{", ".join(sorted(self.KNOWN))})')


def open_dataset(card: Card) -> DataSet:
    """The data set ``card`` describes, read by its format's reader."""
    import importlib
    return importlib.import_module(f'.{card.format.replace("-", "_")}', __package__).read(card)


def image_files(card: Card, names) -> list[Path]:
    """The file of each image name the data give (relative to the card's ``images`` folder), each
    inside that folder and present; one line naming the first missing one otherwise."""
    paths = [inside(card.images, card.images / name, 'image') for name in names]
    missing = [(name, path) for name, path in zip(names, paths) if not path.is_file()]
    if missing:
        raise RealnetError(f'{card.path}: {len(missing)} of {len(paths)} images the data name are not in '
                           f'{card.images}, e.g. {printable(str(missing[0][0]))[:200]}')
    return paths


def test_images(card: Card, stimulus_ids) -> frozenset | None:
    """The card's test images as stimulus ids, each one an image of the data set."""
    if card.test_images is None:
        return None
    unknown = sorted(set(card.test_images) - set(stimulus_ids))
    if unknown:
        raise RealnetError(f'{card.path}: "test_images" names {len(unknown)} images the data never show, '
                           f'e.g. {printable(unknown[0])[:200]}')
    if len(card.test_images) == len(set(stimulus_ids)):
        raise RealnetError(f'{card.path}: "test_images" names every image; leave some for training')
    return frozenset(card.test_images)


def subject_label(name: str) -> str | None:
    """'sub-01' from a file or folder name that starts with a BIDS subject entity (sub-<label>), else None."""
    if not name.startswith('sub-'):
        return None
    label = name[4:].split('_')[0].split('-')[0].split('.')[0]
    return f'sub-{label}' if label.isalnum() else None


def card_text(entries: dict) -> str:
    """A card's TOML text: top-level keys, then [tables]; strings and lists written as JSON writes
    them, which TOML reads the same (basic strings, arrays)."""
    lines = ['# A data-set card (docs/recordings.md); `brainscore data check` reads it whole']
    tables = {k: v for k, v in entries.items() if isinstance(v, dict)}
    lines += [f'{key} = {json.dumps(value, ensure_ascii=False)}' for key, value in entries.items() if key not in tables]
    for table, content in tables.items():
        lines.append(f'\n[{table}]')
        for key, value in content.items():
            value = ('{ ' + ', '.join(f'{json.dumps(k)} = {json.dumps(v)}' for k, v in value.items()) + ' }'
                     if isinstance(value, dict) else json.dumps(value, ensure_ascii=False))
            lines.append(f'{key} = {value}')
    return '\n'.join(lines) + '\n'
