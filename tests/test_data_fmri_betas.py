"""fMRI betas (card format fmri-betas): the in-silico data set read back exactly, each problem one line
naming the file, hostile HDF5 and NPZ files refused before their data are read."""
import contextlib
import csv
import io
import re
import resource
import shutil
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

from factories import damageable_copy
from realnet_brainscore import RealnetError
from realnet_brainscore.data import fmri_betas
from realnet_brainscore.data.card import load_card
from realnet_brainscore.synthetic.fmri_betas import BetasDesign, write_fmri_betas

DESIGN = BetasDesign(images=12, test_images=4, repetitions=3, voxels_per_roi=16, other_voxels=8, image_size=32)
N_VOXELS = 2 * 16 + 8
N_TRIALS = 12 * 3


@pytest.fixture(scope='module')
def written(tmp_path_factory):
    return write_fmri_betas(tmp_path_factory.mktemp('betas') / 'insilico', DESIGN)


@pytest.fixture
def copy(written, tmp_path):
    return damageable_copy(written, tmp_path)


def dataset(card_path):
    return fmri_betas.read(load_card(card_path))


def refused(call, *words) -> str:
    """``call()`` raises one RealnetError line holding each of ``words``."""
    with pytest.raises(RealnetError) as error:
        call()
    message = str(error.value)
    assert '\n' not in message and all(word in message for word in words), message
    return message


def table_images(folder: Path) -> list[str]:
    with open(folder / 'stimuli.tsv', newline='') as stream:
        return [row['image'] for row in csv.DictReader(stream, delimiter='\t')]


def written_betas(folder: Path, subject: str) -> np.ndarray:
    """A subject's betas as written, read with NumPy or h5py directly."""
    if (folder / 'betas' / f'{subject}.npz').exists():
        with np.load(folder / 'betas' / f'{subject}.npz', allow_pickle=False) as npz:
            return npz['betas']
    with h5py.File(folder / 'betas' / f'{subject}.h5', 'r') as h5:
        return h5['betas'][()]


# Round trip ------------------------------------------------------------------------------------------------

def test_each_subject_and_split_is_the_written_betas_grouped_by_image(written):
    folder = written.parent
    data = dataset(written)
    images = table_images(folder)
    assert data.modality == 'fMRI' and not data.timed and data.name == 'InSilicoBetas'
    assert data.subjects == ('sub-01', 'sub-02')
    assert {p.suffix for p in (folder / 'betas').iterdir()} == {'.npz', '.h5'}  # both file kinds read
    assert data.stimulus_ids == tuple(dict.fromkeys(images)) and len(data.stimulus_ids) == 12
    assert data.image_paths == tuple((folder / 'stimuli' / name).resolve() for name in data.stimulus_ids)
    assert data.test_images == frozenset(load_card(written).test_images) and len(data.test_images) == 4
    for subject in data.subjects:
        betas = written_betas(folder, subject)
        assert betas.shape == (N_TRIALS, N_VOXELS)
        for split in ('training', 'test'):
            recording = data.recording(subject, split)
            ids = data.split_ids(split)
            assert recording.stimulus_ids == ids and len(ids) == (4 if split == 'test' else 8)
            assert all((image in data.test_images) == (split == 'test') for image in ids)
            expected = np.stack([betas[[row for row, name in enumerate(images) if name == image]] for image in ids])
            assert recording.values.dtype == np.float32 and recording.dropped == 0
            np.testing.assert_array_equal(recording.values, expected)
            assert recording.channels == tuple(f'v{i}' for i in range(N_VOXELS)) and recording.times is None


def test_rois_are_the_written_indices_and_mask(written):
    data = dataset(written)
    indices = np.load(written.parent / 'rois' / 'V1.npy', allow_pickle=False)
    mask = np.load(written.parent / 'rois' / 'LOC.npy', allow_pickle=False)
    assert indices.dtype.kind == 'i' and mask.dtype == bool and len(mask) == N_VOXELS
    assert data.rois == {'V1': tuple(indices.tolist()), 'LOC': tuple(np.flatnonzero(mask).tolist())}
    assert not set(data.rois['V1']) & set(data.rois['LOC']) and len(data.rois['V1']) == 16
    assert data.regions == {'V1': 'V1', 'LOC': 'IT'}


def test_roi_rdms_carry_the_images_structure(written):
    """V1 voxels of the two subjects weigh the same hidden features: their RDMs agree; voxels in no
    ROI are noise, and theirs do not."""
    data = dataset(written)

    def rdm_agreement(columns):
        rdms = []
        for subject in data.subjects:
            means = data.recording(subject, 'training').averaged()[:, list(columns)]
            rdms.append((1 - np.corrcoef(means))[np.triu_indices(len(means), 1)])
        return np.corrcoef(*rdms)[0, 1]
    others = sorted(set(range(N_VOXELS)) - set(data.rois['V1']) - set(data.rois['LOC']))
    assert rdm_agreement(data.rois['V1']) > 0.5 > rdm_agreement(others) + 0.3


# One-line refusals -----------------------------------------------------------------------------------------

def _rewrite_h5(path: Path, betas):
    path.unlink(missing_ok=True)
    with h5py.File(path, 'w') as h5:
        h5.create_dataset('betas', data=betas)


def test_no_subject_files(copy):
    for path in (copy.parent / 'betas').iterdir():
        path.unlink()
    (copy.parent / 'betas' / 'notes.txt').write_text('no betas here')
    refused(lambda: dataset(copy), str(copy.parent / 'betas'), 'no subject files')


def test_two_files_of_one_subject(copy):
    shutil.copy(copy.parent / 'betas' / 'sub-01.npz', copy.parent / 'betas' / 'sub-01.hdf5')
    refused(lambda: dataset(copy), 'sub-01 has two betas files', 'sub-01.hdf5')


def test_a_missing_table(copy):
    (copy.parent / 'stimuli.tsv').unlink()
    refused(lambda: dataset(copy), 'stimuli.tsv: no such stimulus table')


def test_a_table_without_the_image_column(copy):
    table = copy.parent / 'stimuli.tsv'
    table.write_text(table.read_text().replace('trial\timage\n', 'trial\tpicture\n', 1))
    refused(lambda: dataset(copy), 'stimuli.tsv', "no column 'image'", 'its columns: trial, picture')


def test_betas_rows_that_do_not_match_the_table(copy):
    table = copy.parent / 'stimuli.tsv'
    table.write_text(''.join(table.read_text().splitlines(keepends=True)[:-1]))  # the last trial left out
    refused(lambda: dataset(copy), 'sub-01.npz', f'{N_TRIALS} rows of betas', f'stimuli.tsv has {N_TRIALS - 1} rows')


def test_subjects_with_different_voxel_counts(copy):
    path = copy.parent / 'betas' / 'sub-02.h5'
    _rewrite_h5(path, written_betas(copy.parent, 'sub-02')[:, :-1])
    refused(lambda: dataset(copy), 'sub-02.h5', f'{N_VOXELS - 1} voxels', f'sub-01.npz has {N_VOXELS}')


@pytest.mark.parametrize('roi, words', [
    (np.array([0.0, 1.0, 2.0]), ('shape (3,) and dtype float64', 'voxel column indices or a boolean mask')),
    (np.ones(N_VOXELS - 1, dtype=bool), (f'shape ({N_VOXELS - 1},) and dtype bool', f'mask of {N_VOXELS} voxels')),
    (np.array([[1, 2], [3, 4]]), ('shape (2, 2)',)),
    (np.array([3, N_VOXELS]), ('1 voxel indices out of range, e.g. 40', f'indices 0 to {N_VOXELS - 1}')),
    (np.array([-1, 2]), ('out of range, e.g. -1',)),
    (np.array([5]), ('1 voxel(s); an ROI needs at least 2',)),
    (np.eye(1, N_VOXELS, 7, dtype=bool)[0], ('1 voxel(s)',)),
    (np.array([4, 4, 9]), ('names some voxels twice',)),
    ((np.arange(N_VOXELS) % 3 == 0).astype(np.uint8), ('names some voxels twice', 'a mask must be boolean')),
], ids=['floats', 'short-mask', '2-d', 'past-the-end', 'negative', 'one-index', 'one-voxel-mask', 'twice', '0-1-mask'])
def test_a_bad_roi_file(copy, roi, words):
    np.save(copy.parent / 'rois' / 'V1.npy', roi)
    refused(lambda: dataset(copy), 'V1.npy', *words)


def test_an_roi_object_array_is_not_unpickled(copy):
    np.save(copy.parent / 'rois' / 'LOC.npy', np.array([{'a': 1}], dtype=object), allow_pickle=True)
    refused(lambda: dataset(copy), 'LOC.npy', 'not an ROI .npy file', 'dtype object')


def test_an_image_missing_from_the_images_folder(copy):
    (copy.parent / 'stimuli' / 'bar' / '004.png').unlink()
    refused(lambda: dataset(copy), '1 of 12 images', str(copy.parent / 'stimuli'), 'bar/004.png')


def test_a_betas_file_linked_from_outside_the_folder(copy, tmp_path):
    path = copy.parent / 'betas' / 'sub-02.h5'
    outside = tmp_path / 'elsewhere.h5'
    shutil.move(path, outside)
    path.symlink_to(outside)
    refused(lambda: dataset(copy), 'sub-02.h5', 'lies outside its data folder')


def test_nan_and_infinite_betas_are_counted(copy):
    betas = written_betas(copy.parent, 'sub-02').copy()
    betas[0, :3] = np.nan
    betas[5, 7] = np.inf
    _rewrite_h5(copy.parent / 'betas' / 'sub-02.h5', betas)
    data = dataset(copy)  # the files' headers are sound: a subject's values are checked when read
    data.recording('sub-01', 'test')
    refused(lambda: data.recording('sub-02', 'test'), 'sub-02.h5', f'4 of the {N_TRIALS * N_VOXELS} betas are NaN')


# Hostile files -------------------------------------------------------------------------------------------

@contextlib.contextmanager
def at_most_another_gib():
    """The body may grow the process's address space by at most 1 GiB: a size trusted before it is
    checked fails at once instead of swapping."""
    size = int(re.search(r'VmSize:\s+(\d+) kB', Path('/proc/self/status').read_text())[1]) * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = size + 2 ** 30 if hard == resource.RLIM_INFINITY else min(size + 2 ** 30, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def _plant(copy, tmp_path, plant):
    """sub-02.h5 of ``copy`` with its /betas replaced by ``plant(h5, sound betas file outside)``: the
    outside file holds betas the reader would accept, so only a refusal keeps them from being read."""
    outside = tmp_path / 'elsewhere.h5'
    _rewrite_h5(outside, written_betas(copy.parent, 'sub-02'))
    path = copy.parent / 'betas' / 'sub-02.h5'
    with h5py.File(path, 'a') as h5:
        del h5['betas']
        plant(h5, outside)
    return path


def _virtual(h5, outside):
    layout = h5py.VirtualLayout(shape=(N_TRIALS, N_VOXELS), dtype='<f4')
    layout[:] = h5py.VirtualSource(str(outside), 'betas', shape=(N_TRIALS, N_VOXELS))
    h5.create_virtual_dataset('betas', layout)


def _external_storage(h5, outside):
    raw = outside.with_suffix('.raw')
    written = np.zeros((N_TRIALS, N_VOXELS), dtype='<f4')
    written.tofile(raw)
    h5.create_dataset('betas', shape=written.shape, dtype=written.dtype, external=[(str(raw), 0, written.nbytes)])


@pytest.mark.parametrize('plant, words', [
    (lambda h5, outside: h5.__setitem__('betas', h5py.ExternalLink(str(outside), '/betas')),
     ('/betas is an external link to', 'elsewhere.h5:/betas')),
    (lambda h5, outside: h5.__setitem__('notes', h5py.ExternalLink(str(outside), '/betas')),
     ('/notes is an external link',)),
    (lambda h5, outside: (h5.create_dataset('hidden', data=np.zeros((N_TRIALS, N_VOXELS), '<f4')),
                          h5.__setitem__('betas', h5py.SoftLink('/hidden'))), ('/betas is a soft link to /hidden',)),
    (_virtual, ('/betas is a virtual dataset',)),
    (_external_storage, ('/betas is stored in external files',)),
    (lambda h5, outside: h5.create_dataset('betas', shape=(N_TRIALS, 2 ** 36), dtype='<f4', chunks=(1, 1024)),
     ('declares shape (36, 68719476736) of float32', 'refused before reading')),
], ids=['external-link', 'unread-external-link', 'soft-link', 'virtual', 'external-storage', 'huge-declared'])
def test_hostile_hdf5_is_refused_before_reading(copy, tmp_path, plant, words):
    path = _plant(copy, tmp_path, plant)
    assert path.stat().st_size < 2 ** 20
    with at_most_another_gib():
        refused(lambda: dataset(copy), 'sub-02.h5', *words)


def _npz_with(path: Path, npy: bytes, name: str = 'betas.npy'):
    with zipfile.ZipFile(path, 'w') as archive:
        archive.writestr(name, npy)


def _npy_bytes(array, **options) -> bytes:
    stream = io.BytesIO()
    np.save(stream, array, **options)
    return stream.getvalue()


@pytest.mark.parametrize('npy, name, words', [
    (_npy_bytes(np.array([None] * 4, dtype=object), allow_pickle=True), 'betas.npy', ('holds object values',)),
    (_npy_bytes(np.zeros((N_TRIALS, N_VOXELS), '<f4'))[:-4], 'betas.npy',
     ('declares shape (36, 40) of float32 (5760 bytes) but 5756 bytes', 'forged')),
    (_npy_bytes(np.zeros((N_TRIALS, N_VOXELS), '<f4')), 'responses.npy', ('no array `betas` (it holds responses)',)),
    (_npy_bytes(np.zeros(N_TRIALS, '<f4')), 'betas.npy', ('shape (36,)', 'trials × voxels')),
    (b'not a npy file at all', 'betas.npy', ('not an NPZ file',)),
], ids=['object-array', 'forged-header', 'no-betas', '1-d', 'not-npy'])
def test_a_bad_npz_is_refused_before_reading(copy, npy, name, words):
    _npz_with(copy.parent / 'betas' / 'sub-01.npz', npy, name)
    with at_most_another_gib():
        refused(lambda: dataset(copy), 'sub-01.npz', *words)


def test_a_damaged_hdf5_file_is_one_line(copy):
    path = copy.parent / 'betas' / 'sub-02.h5'
    path.write_bytes(path.read_bytes()[:1000])
    refused(lambda: dataset(copy), 'sub-02.h5', 'not an HDF5 file')
