"""fMRI betas (card format ``fmri-betas``): per subject one array of single-trial response estimates,
trials × voxels, with a stimulus table naming each trial's image and ROI files naming voxel columns.

Reads, under the card's folder:

- ``path/sub-<label>.npz`` (NumPy's ``savez`` zip of ``.npy`` files; the array ``betas``) or
  ``path/sub-<label>.h5`` / ``.hdf5`` (the HDF5 dataset ``/betas``): trials × voxels, numbers.
  ``np.load(allow_pickle=False)`` reads the NPZ, after its member's ``.npy`` header (NumPy's format
  spec, ``numpy.lib.format``) is checked against the bytes present and ``bounds``; h5py reads the
  HDF5 after ``hdf5.check_own_data`` refused links and external storage and checked declared sizes.
- ``[fmri] table``: a TSV (tab-separated, a header row, one row per trial, as BIDS events.tsv
  files are), the same for every subject: row i describes row i of each subject's betas; the column
  ``image_column`` (default ``image``) names the trial's image, relative to the card's ``images``.
- ``[fmri] rois``: per ROI a ``.npy`` (read with ``files.read_npy``): a 1-D integer array of voxel
  column indices, or a 1-D boolean mask with one entry per voxel; the same for every subject.

Voxels are labelled 'v0', 'v1', ... by column; an image's trials keep the table's row order.
"""
import contextlib
import math
import zipfile
from pathlib import Path

import h5py
import numpy as np

from .. import bounds
from ..errors import RealnetError, first_line, printable
from ..files import inside, npy_header, read_npy, regular_file
from . import card as cards
from . import check_float32
from .dataset import DataSet, Trials
from .hdf5 import check_own_data
from .tsv import read_columns

SUFFIXES = ('.npz', '.h5', '.hdf5')
BETAS = 'betas'                  # the NPZ array and the HDF5 dataset holding a subject's betas
IMAGE_COLUMN = 'image'           # the table's image column when the card names none
NUMBER_KINDS = 'fiu'             # float, signed and unsigned integer dtypes


def read(card) -> DataSet:
    """The data set of ``card``: its subjects' files, table and ROIs checked, each subject read on demand."""
    files = subject_files(card.data)
    images = read_table(card.table, card.image_column or IMAGE_COLUMN)
    shapes = {subject: betas_shape(path) for subject, path in files.items()}
    for subject, shape in shapes.items():
        if shape[0] != len(images):
            raise RealnetError(f'{files[subject]}: {shape[0]} rows of betas but {card.table} has {len(images)} '
                               'rows; expected one row of betas per row of the table')
    voxel_counts = {shape[1] for shape in shapes.values()}
    if len(voxel_counts) > 1:
        first = next(iter(files))
        other = next(subject for subject in files if shapes[subject][1] != shapes[first][1])
        raise RealnetError(f'{files[other]}: {shapes[other][1]} voxels but {files[first]} has {shapes[first][1]}; '
                           'every subject of a data set has the same voxels')
    n_voxels = voxel_counts.pop()
    stimulus_ids = tuple(dict.fromkeys(images))  # each image once, in the order the table first shows it
    rois = {roi: roi_columns(path, n_voxels) for roi, path in card.rois.items()}
    channels = tuple(f'v{column}' for column in range(n_voxels))
    rows_of = {image: [] for image in stimulus_ids}
    for row, image in enumerate(images):
        rows_of[image].append(row)

    def read_subject(subject: str, split: str | None = None) -> Trials:  # every split at once
        betas = read_betas(files[subject])
        if betas.shape != shapes[subject]:  # the file changed since its header was read
            raise RealnetError(f'{files[subject]}: betas of shape {betas.shape}; its header said {shapes[subject]}')
        return Trials(subject, {image: betas[rows] for image, rows in rows_of.items()}, channels)

    return DataSet(name=card.name, modality='fMRI', visual_degrees=card.visual_degrees, subjects=tuple(files),
                   stimulus_ids=stimulus_ids, image_paths=tuple(cards.image_files(card, stimulus_ids)),
                   test_images=cards.test_images(card, stimulus_ids), read=read_subject, rois=rois,
                   regions={roi: card.region_of(roi) for roi in rois}, source=str(card.path))


def subject_files(folder: Path) -> dict[str, Path]:
    """subject label -> betas file, from the ``sub-<label>.npz/.h5/.hdf5`` files of ``folder``, by label."""
    if not folder.is_dir():
        raise RealnetError(f'{folder}: no such folder; expected the subjects\' betas files (sub-<label>.npz or .h5)')
    files = {}
    for path in sorted(folder.iterdir()):
        label = cards.subject_label(path.name)
        if label is None or path.suffix.lower() not in SUFFIXES:
            continue
        if label in files:
            raise RealnetError(f'{folder}: {label} has two betas files, {files[label].name} and '
                               f'{printable(path.name)}; keep one')
        files[label] = inside(folder, path, 'betas file')
    if not files:
        raise RealnetError(f'{folder}: no subject files; expected sub-<label>.npz (array `{BETAS}`) or '
                           f'sub-<label>.h5 (dataset /{BETAS}), trials × voxels')
    return dict(sorted(files.items()))


def read_table(path: Path, column: str) -> list[str]:
    """The image named by each row of the TSV at ``path``, in row order."""
    return [image for image, in read_columns(path, (column,), 'stimulus table (TSV)')]


def betas_shape(path: Path) -> tuple[int, ...]:
    """The (trials, voxels) a subject's file declares, read from headers only."""
    if path.suffix.lower() == '.npz':
        with _npz_member(path) as (stream, shape, dtype):
            pass
    else:
        with h5py_file(path) as h5:
            shape = _hdf5_betas(path, h5).shape
    return tuple(shape)


def read_betas(path: Path) -> np.ndarray:
    """A subject's betas, trials × voxels, float32, every value finite."""
    try:
        if path.suffix.lower() == '.npz':
            with _npz_member(path) as (stream, shape, dtype):
                stream.seek(0)
                betas = np.load(stream, allow_pickle=False)
        else:
            with h5py_file(path) as h5:
                betas = _hdf5_betas(path, h5)[()]
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as error:  # damaged data past a sound header
        raise RealnetError(f'{path}: its betas cannot be read ({printable(first_line(error))[:200]})') from error
    bad = int(np.size(betas) - np.isfinite(betas).sum())
    if bad:
        raise RealnetError(f'{path}: {bad} of the {np.size(betas)} betas are NaN or infinite; expected '
                           'finite responses (mask or impute them before)')
    return check_float32(betas, f'{path}: betas')


@contextlib.contextmanager
def _npz_member(path: Path):
    """The ``betas`` member of an NPZ, open at the start of its data, with its declared shape and dtype
    checked: 2-D numbers, of the size of the bytes present and within ``bounds``."""
    path = regular_file(path, 'betas file')
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError) as error:
        raise RealnetError(f'{path}: not an NPZ file ({printable(first_line(error))[:200]})') from error
    with archive:
        names = archive.namelist()
        if f'{BETAS}.npy' not in names:
            found = ', '.join(printable(name.removesuffix('.npy'))[:40] for name in names[:10]) or 'nothing'
            raise RealnetError(f'{path}: no array `{BETAS}` (it holds {found}); expected '
                               f'np.savez(file, {BETAS}=trials × voxels)')
        info = archive.getinfo(f'{BETAS}.npy')
        try:
            stream = archive.open(info)
            shape, _, dtype = npy_header(stream)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as error:
            raise RealnetError(f'{path}: not an NPZ file ({printable(first_line(error))[:200]})') from error
        with stream:
            _check_declared(path, shape, dtype, info.file_size - stream.tell())
            yield stream, shape, dtype


def _check_declared(path: Path, shape: tuple, dtype: np.dtype, present: int) -> None:
    if dtype.hasobject or dtype.kind not in NUMBER_KINDS:
        raise RealnetError(f'{path}: `{BETAS}` holds {dtype} values; expected numbers (float)')
    if len(shape) != 2:
        raise RealnetError(f'{path}: `{BETAS}` has shape {shape}; expected 2 dimensions, trials × voxels')
    declared = math.prod(shape) * dtype.itemsize  # Python integers: no overflow
    if declared > bounds.HDF5_DATASET_BYTES:
        raise RealnetError(f'{path}: `{BETAS}` declares shape {shape} of {dtype} ({declared} bytes), above the '
                           f'bound of {bounds.HDF5_DATASET_BYTES} bytes; refused before reading')
    if declared != present:
        raise RealnetError(f'{path}: `{BETAS}` declares shape {shape} of {dtype} ({declared} bytes) but {present} '
                           'bytes of data follow; a damaged or forged file')


@contextlib.contextmanager
def h5py_file(path: Path):
    """``path`` open with h5py, every object of it checked (``hdf5.check_own_data``); h5py's errors on
    a file that is no HDF5 are one line."""
    path = regular_file(path, 'betas file')
    try:
        h5 = h5py.File(path, 'r')
    except (OSError, ValueError) as error:
        raise RealnetError(f'{path}: not an HDF5 file ({printable(first_line(error))[:200]})') from error
    with h5:
        check_own_data(path, h5)  # before any h5.get(), which would follow a link
        yield h5


def _hdf5_betas(path: Path, h5) -> h5py.Dataset:
    item = h5.get(BETAS)
    if not isinstance(item, h5py.Dataset):
        found = ', '.join(printable(name)[:40] for name in list(h5)[:10]) or 'nothing'
        raise RealnetError(f'{path}: no dataset /{BETAS} (it holds {found}); expected /{BETAS}, trials × voxels')
    _check_declared(path, item.shape, item.dtype, item.size * item.dtype.itemsize)  # size: check_own_data's bound
    return item


def roi_columns(path: Path, n_voxels: int) -> tuple[int, ...]:
    """The voxel columns an ROI file names: its indices, or the columns its boolean mask marks."""
    path = regular_file(path, 'ROI file (.npy)')
    try:
        with open(path, 'rb') as stream:
            _, _, dtype = npy_header(stream)
        if dtype.hasobject:  # read_npy would unpickle it; an ROI is never an object array
            raise ValueError(f'dtype {dtype}')
        values = read_npy(path)
    except (ValueError, OSError, EOFError) as error:
        raise RealnetError(f'{path}: not an ROI .npy file ({printable(first_line(error))[:200]}); expected voxel '
                           f'column indices or a boolean mask of {n_voxels} voxels') from error
    expected = f'expected a 1-D array of voxel column indices or a boolean mask of {n_voxels} voxels'
    if values.ndim != 1 or (values.dtype.kind == 'b' and len(values) != n_voxels) or values.dtype.kind not in 'biu':
        raise RealnetError(f'{path}: an array of shape {values.shape} and dtype {values.dtype}; {expected}')
    columns = np.flatnonzero(values) if values.dtype.kind == 'b' else values.astype(np.int64)
    outside = columns[(columns < 0) | (columns >= n_voxels)]
    if len(outside):
        raise RealnetError(f'{path}: {len(outside)} voxel indices out of range, e.g. {int(outside[0])}; the betas '
                           f'have {n_voxels} voxels (indices 0 to {n_voxels - 1})')
    if len(np.unique(columns)) != len(columns):
        # a 0/1 integer array (a mask saved from MATLAB, say) reads as indices naming voxels 0 and 1 again and again
        hint = '; a mask must be boolean (mask.astype(bool))' if set(np.unique(columns)) <= {0, 1} else ''
        raise RealnetError(f'{path}: names some voxels twice; {expected}{hint}')
    if len(columns) < 2:
        raise RealnetError(f'{path}: {len(columns)} voxel(s); an ROI needs at least 2 (an RDM correlates '
                           'voxel patterns)')
    return tuple(int(column) for column in columns)
