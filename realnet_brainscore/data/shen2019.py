"""Shen et al. 2019 fMRI (test images) as Brain-Score assemblies, one per subject and ROI.

Reads the published bdpy HDF5 files with h5py (``/dataset`` or ``/dataSet``; ``/metadata`` or
``/metaData`` with ``key``, ``description``, ``value``; a key's columns are those its value row
marks with 1), ``stimulus_ImageNetTest.tsv`` (``<image name>\\t<image index>``) and the user's
folder of stimulus images. See shared FORMATS.md.
"""
from pathlib import Path

import h5py
import numpy as np

from ..errors import RealnetError, first_line
from .things_eeg2 import subject_name

ROIS = ('V1', 'V2', 'V3', 'V4', 'LOC', 'FFA', 'PPA', 'HVC')
ROI_KEYS = {'V4': ('ROI_V4', 'ROI_hV4')}  # newer fmriprep files spell hV4
SUBJECTS = (1, 2, 3)
TEST_IMAGES, TEST_REPETITIONS = 50, 24
TSV = 'stimulus_ImageNetTest.tsv'


def h5_path(root, subject: int) -> Path:
    if subject not in SUBJECTS:
        raise RealnetError(f'unknown Shen 2019 subject {subject}: subjects are 1 to 3')
    return Path(root) / f'{subject_name(subject)}_perceptionNaturalImageTest_original_VC.h5'


def stimulus_name(value: float) -> str:
    """bdpy's float stimulus id -> ImageNet file stem: 1518878.005958 -> 'n01518878_5958'
    (a NaN or infinite id gives its own text, which names no image)."""
    if not np.isfinite(value):
        return str(value)
    whole, fraction = f'{value:.6f}'.split('.')
    return f'n{int(whole):08d}_{int(fraction)}'


class BdpyFile:
    """The dataset matrix and metadata of one bdpy HDF5 file, checked against the layout."""

    def __init__(self, path: Path):
        if not path.is_file():
            raise RealnetError(f'{path}: missing; expected a Shen 2019 test-set file in the bdpy layout')
        self.path = path
        try:
            with h5py.File(path, 'r') as h5:
                data = self._dataset(h5, ('dataset', 'dataSet'), 'numbers', ndim=2)
                metadata = next((name for name in ('metadata', 'metaData') if h5.get(name) is not None), 'metadata')
                keys = self._dataset(h5, (f'{metadata}/key',), 'names', ndim=1)
                values = self._dataset(h5, (f'{metadata}/value',), 'numbers', ndim=2)
                self.data, keys, self.values = data[()], keys[()], values[()]
        except (OSError, KeyError) as error:
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
    voxels = bdpy.data[:, bdpy.columns(*ROI_KEYS.get(roi, (f'ROI_{roi}',)))]
    indices = bdpy.label('image_index')
    if not np.isfinite(indices).all():
        raise RealnetError(f'{bdpy.path}: the image_index column holds NaN or infinite values')
    indices = indices.astype(int)
    expected = TEST_IMAGES * TEST_REPETITIONS
    if len(indices) != expected or sorted(set(indices)) != list(range(1, TEST_IMAGES + 1)):
        raise RealnetError(f'{bdpy.path}: {len(indices)} samples of {len(set(indices))} images; expected '
                           f'{TEST_IMAGES} images × {TEST_REPETITIONS} repetitions = {expected}')
    bad = ~np.isfinite(voxels).all(axis=0)
    if bad.any():
        if not drop_nan_voxels:
            raise RealnetError(f'{bdpy.path}: {int(bad.sum())} of {len(bad)} {roi} voxels hold NaN or infinite '
                               f'values; pass --drop-nan-voxels to leave them out')
        voxels = voxels[:, ~bad]
    if voxels.shape[1] < 2:  # 1 − Pearson r between voxel patterns needs two voxels at least
        raise RealnetError(f'{bdpy.path}: {voxels.shape[1]} usable {roi} voxels (of {len(bad)}; {int(bad.sum())} hold '
                           f'NaN or infinite values); an RDM needs at least 2')
    names = read_stimulus_names(root)
    missing = [i for i in sorted(set(indices)) if i not in names]
    if missing:
        raise RealnetError(f'{root / TSV}: no image name for image indices {missing[:5]}')
    if 'stimulus_id' in bdpy.keys:
        mismatched = [(i, names[i]) for i, v in zip(indices, bdpy.label('stimulus_id')) if stimulus_name(v) != names[i]]
        if mismatched:
            raise RealnetError(f'{bdpy.path}: stimulus ids disagree with {TSV}, e.g. index {mismatched[0][0]}')
    paths = {i: _image_path(root, names[i]) for i in sorted(set(indices))}
    absent = [p for p in paths.values() if not p.is_file()]
    if absent:
        raise RealnetError(f'{len(absent)} of {len(paths)} stimulus images are missing from {root / "images"}, '
                           f'e.g. {absent[0].name}')
    order = np.lexsort((np.arange(len(indices)), indices))  # image-major, presentation order kept
    indices, voxels = indices[order], voxels[order]
    repetition = np.concatenate([np.arange((indices == i).sum()) for i in sorted(set(indices))])
    if average_repetitions:
        voxels = np.stack([voxels[indices == i].mean(axis=0) for i in sorted(set(indices))])
        indices, repetition = np.array(sorted(set(indices))), np.full(TEST_IMAGES, -1)
    return NeuroidAssembly(
        voxels.astype(np.float32), dims=['presentation', 'neuroid'],
        coords={'stimulus_id': ('presentation', [names[i] for i in indices]),
                'image_index': ('presentation', indices),
                'image_path': ('presentation', [str(paths[i]) for i in indices]),
                'repetition': ('presentation', repetition),
                'neuroid_id': ('neuroid', np.arange(voxels.shape[1])),
                'subject': ('neuroid', [subject_name(subject)] * voxels.shape[1]),
                'roi': ('neuroid', [roi] * voxels.shape[1])})


def _image_path(root: Path, name: str) -> Path:
    for suffix in ('.JPEG', '.jpeg', '.jpg', '.JPG', '.png'):
        path = root / 'images' / f'{name}{suffix}'
        if path.is_file():
            return path
    return root / 'images' / f'{name}.JPEG'
