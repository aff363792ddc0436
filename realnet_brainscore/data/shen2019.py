"""Shen et al. 2019 fMRI: the test images as Brain-Score assemblies, one per subject and ROI; the
training session as one averaged response per image (for ReAlnet-fMRI).

Reads the published bdpy HDF5 files with h5py (``/dataset`` or ``/dataSet``; ``/metadata`` or
``/metaData`` with ``key``, ``description``, ``value``; a key's columns are those its value row
marks with 1), ``stimulus_ImageNetTest.tsv`` (``<image name>\\t<image index>``) and the user's
folder of stimulus images. See docs/weights.md#shen-2019-fmri.
"""
from pathlib import Path
from typing import NamedTuple

import h5py
import numpy as np

from ..errors import RealnetError, first_line
from ..files import inside
from . import check_float32
from .dataset import DataSet, Trials
from .hdf5 import check_own_data
from .things_eeg2 import subject_name

ROIS = ('V1', 'V2', 'V3', 'V4', 'LOC', 'FFA', 'PPA', 'HVC')
ROI_KEYS = {'V4': ('ROI_V4', 'ROI_hV4')}  # newer fmriprep files spell hV4
SUBJECTS = (1, 2, 3)
NAME = 'Shen2019'  # the data set's name in Brain-Score: its benchmarks are Shen2019.<ROI>-rsa
TEST_IMAGES, TEST_REPETITIONS = 50, 24
TSV = 'stimulus_ImageNetTest.tsv'
TEST_FILE = 'a Shen 2019 test-set file'
TRAINING_FILE = 'the Shen 2019 training-session file (ReAlnet-fMRI training needs it)'
MIN_TRAINING_IMAGES = 10
VISUAL_DEGREES = 12  # images spanned 12 × 12 degrees of visual angle (Shen et al. 2019)


def h5_path(root, subject: int) -> Path:
    return _session_path(root, subject, 'Test')


def training_h5_path(root, subject: int) -> Path:
    return _session_path(root, subject, 'Training')


def _session_path(root, subject: int, session: str) -> Path:
    if subject not in SUBJECTS:
        raise RealnetError(f'unknown Shen 2019 subject {subject}: subjects are 1 to 3')
    return Path(root) / f'{subject_name(subject)}_perceptionNaturalImage{session}_original_VC.h5'


def stimulus_name(value: float) -> str:
    """bdpy's float stimulus id -> ImageNet file stem: 1518878.005958 -> 'n01518878_5958'
    (a NaN or infinite id gives its own text, which names no image)."""
    if not np.isfinite(value):
        return str(value)
    whole, fraction = f'{value:.6f}'.split('.')
    return f'n{int(whole):08d}_{int(fraction)}'


class BdpyFile:
    """The dataset matrix and metadata of one bdpy HDF5 file, checked against the layout; ``what``
    names the file for the user when it is missing."""

    def __init__(self, path: Path, what: str = TEST_FILE):
        if not path.is_file():
            raise RealnetError(f'{path}: missing; expected {what} in the bdpy layout')
        self.path = path
        try:
            with h5py.File(path, 'r') as h5:
                check_own_data(path, h5)  # before any h5.get(), which would follow a link
                data = self._dataset(h5, ('dataset', 'dataSet'), 'numbers', ndim=2)
                metadata = next((name for name in ('metadata', 'metaData') if h5.get(name) is not None), 'metadata')
                keys = self._dataset(h5, (f'{metadata}/key',), 'names', ndim=1)
                values = self._dataset(h5, (f'{metadata}/value',), 'numbers', ndim=2)
                self.data, keys, self.values = data[()], keys[()], values[()]
        except (OSError, KeyError, ValueError, RuntimeError, TypeError) as error:  # h5py's for malformed files
            raise RealnetError(f'{path}: not a bdpy HDF5 file ({first_line(error)})') from error
        self.keys = [k.decode(errors='replace') if isinstance(k, bytes) else str(k) for k in keys]
        expected = (len(self.keys), self.data.shape[1])
        if self.values.shape != expected:
            raise RealnetError(f'{path}: /{metadata}/value has shape {self.values.shape}; expected {expected}: a row '
                               f'for each of the {expected[0]} keys, a column for each of the {expected[1]} data columns')

    def _dataset(self, h5, names: tuple, holding: str, ndim: int):
        """The first of ``names`` present, if it is a ``ndim``-dimensional dataset of ``holding``
        ('numbers' or 'names'); h5py would otherwise fail later with a raw TypeError or IndexError."""
        name = next((name for name in names if h5.get(name) is not None), None)
        if name is None:
            raise RealnetError(f'{self.path}: not a bdpy HDF5 file (no /{" or /".join(names)})')
        item = h5[name]
        if not isinstance(item, h5py.Dataset):
            raise RealnetError(f'{self.path}: /{name} is a {type(item).__name__.lower()}, not a dataset of {holding}')
        if item.dtype.kind not in ('fiu' if holding == 'numbers' else 'SUO'):
            kind = {'S': 'byte strings', 'O': 'variable-length data', 'b': 'booleans', 'c': 'complex numbers',
                    'V': 'compound records'}.get(item.dtype.kind, 'numbers')
            raise RealnetError(f'{self.path}: /{name} holds {kind} (dtype {item.dtype}); expected {holding}')
        if item.ndim != ndim:
            raise RealnetError(f'{self.path}: /{name} has shape {item.shape}; expected {ndim} dimension(s) of {holding}')
        return item

    def columns(self, *names: str) -> np.ndarray:
        """Columns of the first of ``names`` present among the keys."""
        for name in names:
            if name in self.keys:
                columns = np.flatnonzero(self.values[self.keys.index(name)] == 1)
                if not len(columns):
                    raise RealnetError(f'{self.path}: the {name} key marks no column')
                return columns
        rois = sorted(k for k in self.keys if k.startswith('ROI_'))
        raise RealnetError(f'{self.path}: no {" or ".join(names)} key (it has {", ".join(rois) or "no ROI keys"})')

    def label(self, name: str) -> np.ndarray:
        return self.data[:, self.columns(name)[0]]

    def finite_label(self, name: str) -> np.ndarray:
        label = self.label(name)
        if not np.isfinite(label).all():
            raise RealnetError(f'{self.path}: the {name} column holds NaN or infinite values')
        return label

    def usable_voxels(self, keys: tuple, roi: str, drop_nan_voxels: bool, needed_by: str) -> np.ndarray:
        """The ROI's voxel columns (samples × voxels), those holding NaN or inf left out on request."""
        voxels = self.data[:, self.columns(*keys)]
        bad = ~np.isfinite(voxels).all(axis=0)
        if bad.any():
            if not drop_nan_voxels:
                raise RealnetError(f'{self.path}: {int(bad.sum())} of {len(bad)} {roi} voxels hold NaN or infinite '
                                   f'values; pass `drop_nan_voxels` to leave them out')
            voxels = voxels[:, ~bad]
        if voxels.shape[1] < 2:
            raise RealnetError(f'{self.path}: {voxels.shape[1]} usable {roi} voxels (of {len(bad)}; {int(bad.sum())} '
                               f'hold NaN or infinite values); {needed_by} needs at least 2')
        return voxels


def read_stimulus_names(root) -> dict[int, str]:
    """image index -> image name, from ``stimulus_ImageNetTest.tsv``."""
    path = Path(root) / TSV
    if not path.is_file():
        raise RealnetError(f'{path}: missing; expected the Shen 2019 test stimulus list')
    try:
        text = path.read_bytes().decode('utf-8')
    except UnicodeDecodeError as error:
        raise RealnetError(f'{path}: not a text file (byte {error.start} is not UTF-8); expected lines '
                           f'"<image name><TAB><image index>"') from error
    names = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            name, index = line.split('\t')[:2]
            names[int(float(index))] = name.strip()
        except (ValueError, OverflowError) as error:  # no tab, an index that is no number, or infinite
            raise RealnetError(f'{path}:{number}: expected "<image name><TAB><image index>"') from error
    return names


def load_roi(root, subject: int, roi: str, average_repetitions: bool = False, drop_nan_voxels: bool = False):
    """One subject's ROI responses to the 50 test images: ``presentation × neuroid``."""
    from brainscore_core.supported_data_standards.brainio.assemblies import NeuroidAssembly
    if roi not in ROIS:
        raise RealnetError(f"unknown ROI '{roi}'; choose from {', '.join(ROIS)}")
    root = Path(root)
    if not root.is_dir():
        raise RealnetError(f'{root}: no such folder (expected the Shen 2019 h5 files, {TSV} and images/)')
    bdpy = BdpyFile(h5_path(root, subject))
    indices = bdpy.finite_label('image_index').astype(int)
    expected = TEST_IMAGES * TEST_REPETITIONS
    if len(indices) != expected or sorted(set(indices)) != list(range(1, TEST_IMAGES + 1)):
        raise RealnetError(f'{bdpy.path}: {len(indices)} samples of {len(set(indices))} images; expected '
                           f'{TEST_IMAGES} images × {TEST_REPETITIONS} repetitions = {expected}')
    # 1 − Pearson r between voxel patterns needs two voxels at least
    voxels = bdpy.usable_voxels(ROI_KEYS.get(roi, (f'ROI_{roi}',)), roi, drop_nan_voxels, 'an RDM')
    names = read_stimulus_names(root)
    missing = [i for i in sorted(set(indices)) if i not in names]
    if missing:
        raise RealnetError(f'{root / TSV}: no image name for image indices {missing[:5]}')
    if 'stimulus_id' in bdpy.keys:
        mismatched = [(i, names[i]) for i, v in zip(indices, bdpy.label('stimulus_id')) if stimulus_name(v) != names[i]]
        if mismatched:
            raise RealnetError(f'{bdpy.path}: stimulus ids disagree with {TSV}, e.g. index {mismatched[0][0]}')
    images = sorted(set(indices))
    paths = dict(zip(images, _image_paths(root, [names[i] for i in images])))
    order = np.lexsort((np.arange(len(indices)), indices))  # image-major, presentation order kept
    indices, voxels = indices[order], voxels[order]
    repetition = np.concatenate([np.arange((indices == i).sum()) for i in sorted(set(indices))])
    if average_repetitions:
        voxels = np.stack([voxels[indices == i].mean(axis=0) for i in sorted(set(indices))])
        indices, repetition = np.array(sorted(set(indices))), np.full(TEST_IMAGES, -1)
    return NeuroidAssembly(
        check_float32(voxels, f'{bdpy.path}: {roi} voxels'), dims=['presentation', 'neuroid'],
        coords={'stimulus_id': ('presentation', [names[i] for i in indices]),
                'image_index': ('presentation', indices),
                'image_path': ('presentation', [str(paths[i]) for i in indices]),
                'repetition': ('presentation', repetition),
                'neuroid_id': ('neuroid', np.arange(voxels.shape[1])),
                'subject': ('neuroid', [subject_name(subject)] * voxels.shape[1]),
                'roi': ('neuroid', [roi] * voxels.shape[1])})


class TrainingResponses(NamedTuple):
    image_paths: list[Path]
    voxels: np.ndarray  # images × visual-cortex voxels, float32, the mean over an image's repetitions


def load_training(root, subject: int, drop_nan_voxels: bool = False) -> TrainingResponses:
    """One subject's training-session responses (ROI_VC), averaged over each image's repetitions,
    one row per image in the order of the image names."""
    root = Path(root)
    bdpy = BdpyFile(training_h5_path(root, subject), TRAINING_FILE)
    if 'stimulus_id' not in bdpy.keys:
        raise RealnetError(f'{bdpy.path}: no stimulus_id key; the training session names its images only there')
    samples = [stimulus_name(value) for value in bdpy.finite_label('stimulus_id')]
    voxels = bdpy.usable_voxels(('ROI_VC',), 'VC', drop_nan_voxels, 'ReAlnet-fMRI training')
    names, image_of_sample = np.unique(samples, return_inverse=True)  # sorted by name
    if len(names) < MIN_TRAINING_IMAGES:
        raise RealnetError(f'{bdpy.path}: {len(names)} images; ReAlnet-fMRI training needs at least '
                           f'{MIN_TRAINING_IMAGES}')
    paths = _image_paths(root, list(names))
    means = np.stack([voxels[image_of_sample == image].mean(axis=0) for image in range(len(names))])
    return TrainingResponses(paths, check_float32(means, f'{bdpy.path}: VC voxels'))


def dataset(root, drop_nan_voxels: bool = False, subjects=None) -> DataSet:
    """Shen 2019 as the data set ReAlnet-fMRI trains on (data/dataset.py), named Shen2019: per subject
    the training session's visual-cortex voxels, one repetition-averaged response per image (what
    the authors' targets start from). Its test images are the 50 of the stimulus list (the ROI
    benchmarks read them per ROI, ``load_roi``). The first subject's session names the training
    images, and is not read twice."""
    root = Path(root)
    if not root.is_dir():
        raise RealnetError(f'{root}: no such folder (expected the Shen 2019 h5 files, {TSV} and images/)')
    subjects = tuple(subjects or [s for s in SUBJECTS if training_h5_path(root, s).is_file()] or SUBJECTS[:1])
    first = load_training(root, subjects[0], drop_nan_voxels)
    training_names = [path.stem for path in first.image_paths]
    test_names = sorted(set(read_stimulus_names(root).values())) if (root / TSV).is_file() else []

    def read(label: str, split: str | None = None) -> Trials:
        if split == 'test':
            raise RealnetError(f'{root}: the Shen 2019 test images are read per ROI (the Shen2019.<ROI>-rsa benchmarks)')
        loaded = first if label == subject_name(subjects[0]) else load_training(root, int(label[4:]), drop_nan_voxels)
        channels = tuple(f'v{column}' for column in range(loaded.voxels.shape[1]))
        return Trials(label, {p.stem: row[None] for p, row in zip(loaded.image_paths, loaded.voxels)}, channels)

    return DataSet(name=NAME, modality='fMRI', visual_degrees=VISUAL_DEGREES,
                   subjects=tuple(subject_name(s) for s in subjects), stimulus_ids=(*training_names, *test_names),
                   image_paths=(*first.image_paths, *(_image_path(root, name) for name in test_names)),
                   test_images=frozenset(test_names), read=read, source=str(root))


def _image_paths(root: Path, names: list[str]) -> list[Path]:
    """The stimulus image of each name in ``root/images``, all of them present."""
    paths = [_image_path(root, name) for name in names]
    absent = [p for p in paths if not p.is_file()]
    if absent:
        raise RealnetError(f'{len(absent)} of {len(paths)} stimulus images are missing from {root / "images"}, '
                           f'e.g. {absent[0].name}')
    return paths


def _image_path(root: Path, name: str) -> Path:
    """The image ``name`` (from the stimulus list) names, which must lie inside ``root``."""
    for suffix in ('.JPEG', '.jpeg', '.jpg', '.JPG', '.png'):
        path = root / 'images' / f'{name}{suffix}'
        if path.is_file():
            inside(root, path, 'image')  # through its links too: a data set's files stay in its folder
            return path
    path = root / 'images' / f'{name}.JPEG'  # absent: the caller names it as missing
    inside(root, path, 'image')
    return path
