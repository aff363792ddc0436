"""Hostile data (issue 26, rules 5 and 8): every size a flag or a file declares is checked against a
stated bound before anything is allocated, and a data set's files stay in its folder. Each refusal is
one line (exit 2 at the command line) and the memory used stays small: the cases run under a lowered
address-space limit and tracemalloc, so a size trusted before it is checked fails them."""
import argparse
import contextlib
import re
import resource
import shutil
import struct
import tracemalloc
import zlib
from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

from realnet_brainscore import RealnetError, bounds, cli
from realnet_brainscore.backbones import BackboneSpec
from realnet_brainscore.checkpoint import Checkpoint, recorded_image_size
from realnet_brainscore.cli.options import subject_range
from realnet_brainscore.data.hdf5 import check_storage
from realnet_brainscore.data.shen2019 import h5_path, load_roi, load_training
from realnet_brainscore.data.things_eeg2 import image_paths, load_subject
from realnet_brainscore.files import read_npy
from realnet_brainscore.images import opened_image
from realnet_brainscore.models import load_model
from realnet_brainscore.recording import check_images
from realnet_brainscore.synthetic import Design, ShenDesign, _check_design, write_shen2019, write_things_eeg2
from realnet_brainscore.training import Recipe, Runtime
from realnet_brainscore.training.data import decode_image

TRACED_LIMIT = 64 * 2 ** 20   # bytes Python and numpy may allocate while a hostile case is refused
HEADROOM = 2 ** 30            # address space the process may grow by: a trusted size fails at once


@contextlib.contextmanager
def small_memory():
    """The body runs with at most HEADROOM more address space and TRACED_LIMIT traced allocations."""
    vm = int(re.search(r'VmSize:\s+(\d+) kB', Path('/proc/self/status').read_text())[1]) * 1024
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    limit = vm + HEADROOM if hard == resource.RLIM_INFINITY else min(vm + HEADROOM, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    tracemalloc.start()
    try:
        yield
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
    assert peak < TRACED_LIMIT, f'{peak} bytes allocated'


def refused(call, *words):
    """``call()`` raises one RealnetError line holding each of ``words``, in small memory."""
    with small_memory(), pytest.raises(RealnetError) as error:
        call()
    message = str(error.value)
    assert '\n' not in message and all(word in message for word in words), message
    return message


def cli_refused(capsys, arguments, *words):
    """The command exits 2 with one line on stderr holding each of ``words``, in small memory."""
    with small_memory():
        status = cli.main(arguments)
    error = capsys.readouterr().err
    assert status == 2 and error.count('\n') == 1 and error.startswith('brainscore: error: '), error
    assert all(word in error for word in words), error


# Bounds at the bound (accepted) and past it (refused) -------------------------------------------------

@pytest.mark.parametrize('name, bound', [('image_size', bounds.IMAGE_SIZE), ('pool', bounds.POOL),
                                         ('batch_size', bounds.BATCH_SIZE)])
def test_recipe_sizes_at_their_bound_pass_and_one_past_is_refused(name, bound):
    Recipe(**{name: bound}).check()
    refused(lambda: Recipe(**{name: bound + 1}).check(), f'`{name}` {bound + 1}', f'bound of {bound}')


def test_workers_at_their_bound_pass_and_one_past_is_refused(tmp_path):
    Runtime(out=tmp_path, workers=bounds.WORKERS).check()
    refused(lambda: Runtime(out=tmp_path, workers=bounds.WORKERS + 1).check(), '`workers` 257')


@pytest.mark.parametrize('flag, value', [('--image-size', 1025), ('--pool', 33), ('--batch-size', 4097),
                                         ('--workers', 257)])
def test_train_refuses_sizes_past_their_bound_before_any_work(tmp_path, capsys, flag, value):
    out = tmp_path / 'out'
    cli_refused(capsys, ['train', '--subject', '1', '--things-eeg2', str(tmp_path / 'none'), '--out', str(out),
                         '-q', flag, str(value)], f'{flag} {value} is above the bound')
    assert not out.exists()


def test_subject_lists_are_counted_before_they_are_built(tmp_path, capsys):
    assert subject_range(f'1-{bounds.SUBJECTS}') == list(range(1, bounds.SUBJECTS + 1))
    with small_memory(), pytest.raises(argparse.ArgumentTypeError, match='101 subjects'):
        subject_range('1-50,51-101')
    with small_memory(), pytest.raises(SystemExit) as stopped:
        cli.main(['train', '--subjects', '1-1000000000', '--things-eeg2', str(tmp_path), '--out', str(tmp_path)])
    lines = capsys.readouterr().err.splitlines()
    assert stopped.value.code == 2 and 'above the bound of 100 subjects' in lines[-1], lines


def test_a_checkpoint_may_not_declare_a_pool_or_image_size_past_the_bound():
    record = {'name': 'cornet-s', 'layers': ['V1'], 'regions': {'V1': 'V1'}, 'readout': 'V1'}
    assert BackboneSpec.from_meta({**record, 'pool': bounds.POOL}).pool == bounds.POOL
    with pytest.raises(ValueError, match='backbone record is not usable') as error:
        BackboneSpec.from_meta({**record, 'pool': bounds.POOL + 1})
    assert 'pool 33 is above the bound of 32' in str(error.value.__cause__)
    at = Checkpoint({}, {'config': {'image_size': bounds.IMAGE_SIZE}}, {})
    assert recorded_image_size(at, 'w.pt', 224) == bounds.IMAGE_SIZE
    past = Checkpoint({}, {'config': {'image_size': 10 ** 9}}, {})
    refused(lambda: recorded_image_size(past, 'w.pt', 224), 'w.pt', 'image size of 1000000000 px')


@pytest.mark.parametrize('setting', [{'batch_size': 4097}, {'image_size': 1025}])
def test_load_model_refuses_sizes_past_the_bound_before_loading(setting):
    refused(lambda: load_model('no-such-model', **setting), 'is above the bound')


def test_synth_designs_are_bounded_before_anything_is_written(tmp_path, capsys):
    _check_design(Design(image_size=bounds.IMAGE_SIZE))
    out = tmp_path / 'out'
    cli_refused(capsys, ['synth', '--out', str(out), '--image-size', '1025'], '--image-size 1025 is above the bound')
    cli_refused(capsys, ['synth', '--out', str(out), '--concepts', '1000000', '--images-per-concept', '1000'],
                'is above the bound of 100000')
    assert not out.exists()
    refused(lambda: write_shen2019(out, ShenDesign(image_size=bounds.IMAGE_SIZE + 1)), '`image_size` 1025')
    assert not out.exists()


# Image files: the header's size is checked before decoding ---------------------------------------------

def _png_header(path, width, height, body=b''):
    """A PNG that declares ``width``×``height`` pixels and holds ``body`` (no pixels by default)."""
    def chunk(kind, data):
        return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
    path.write_bytes(b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, height, 8, 2, 0, 0, 0))
                     + body + chunk(b'IEND', b''))
    return path


def test_an_image_at_the_pixel_bound_is_opened_and_one_past_is_refused(tmp_path):
    with opened_image(_png_header(tmp_path / 'at.png', 8192, 8192)) as image:
        assert image.size == (8192, 8192)
    past = _png_header(tmp_path / 'past.png', 8193, 8192)
    refused(lambda: check_images([past]), 'past.png', '8193×8192 pixels', 'refused before decoding')
    refused(lambda: decode_image(past, 32), 'past.png', 'refused before decoding')


def test_a_header_declaring_100000_by_100000_pixels_is_one_line(tmp_path):
    bomb = _png_header(tmp_path / 'bomb.png', 100000, 100000)
    refused(lambda: check_images([bomb]), 'bomb.png', 'refused before decoding')
    refused(lambda: decode_image(bomb, 32), 'bomb.png', 'refused before decoding')


def test_a_truncated_png_is_one_line_naming_it(tmp_path):
    whole = tmp_path / 'whole.png'
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(whole)
    cut = tmp_path / 'cut.png'
    cut.write_bytes(whole.read_bytes()[:len(whole.read_bytes()) // 2])
    check_images([whole])
    refused(lambda: check_images([cut]), 'cut.png', 'damaged image')
    refused(lambda: decode_image(cut, 32), 'cut.png', 'damaged image')


# .npy headers and EEG values --------------------------------------------------------------------------

def _npy_with_header(path, shape, data: bytes):
    with open(path, 'wb') as stream:
        np.lib.format.write_array_header_1_0(stream, {'descr': '<f8', 'fortran_order': False, 'shape': shape})
        stream.write(data)
    return path


def test_an_npy_header_must_declare_the_data_that_follow(tmp_path):
    data = np.arange(10, dtype='<f8').tobytes()
    np.testing.assert_array_equal(read_npy(_npy_with_header(tmp_path / 'right.npy', (10,), data)), np.arange(10))
    liar = _npy_with_header(tmp_path / 'liar.npy', (10 ** 12,), data)
    refused(lambda: read_npy(liar), 'liar.npy', 'declares shape (1000000000000,)', '80 bytes of data follow')
    refused(lambda: read_npy(_npy_with_header(tmp_path / 'long.npy', (10,), data + b'x')), 'long.npy')


@pytest.fixture(scope='module')
def things(tmp_path_factory):
    return write_things_eeg2(tmp_path_factory.mktemp('things') / 'release',
                             Design(subjects=1, concepts=2, images_per_concept=2, test_images=2, test_repetitions=2,
                                    train_repetitions=2, image_size=32))


def _copy(release, tmp_path) -> Path:
    return Path(shutil.copytree(release, tmp_path / 'data', symlinks=True))


def _rewrite_dict(path, change):
    content = np.load(path, allow_pickle=True).item()
    change(content)
    np.save(path, content, allow_pickle=True)


@pytest.mark.parametrize('value, accepted', [(float(np.finfo(np.float32).max), True), (1e39, False)])
def test_eeg_values_must_fit_in_float32(things, tmp_path, value, accepted):
    root = _copy(things, tmp_path)
    eeg = root / 'preprocessed_data' / 'sub-01' / 'preprocessed_eeg_test.npy'
    _rewrite_dict(eeg, lambda content: content['preprocessed_eeg_data'].__setitem__((0, 0, 0, 0), value))
    if accepted:
        assert np.isfinite(load_subject(root, 1, 'test').values).all()
    else:
        refused(lambda: load_subject(root, 1, 'test'), 'preprocessed_eeg_test.npy', '1e+39',
                'do not fit in 32-bit floats')


# Files a data set names stay in its folder --------------------------------------------------------------

def _outside_image(tmp_path) -> Path:
    outside = tmp_path / 'elsewhere' / 'private.jpg'
    outside.parent.mkdir()
    Image.new('RGB', (32, 32)).save(outside)
    return outside


@pytest.mark.parametrize('name', ['relative', 'absolute'])
def test_things_metadata_may_not_name_images_outside_the_folder(things, tmp_path, name):
    root, outside = _copy(things, tmp_path), _outside_image(tmp_path)
    named = '../../../../elsewhere/private.jpg' if name == 'relative' else str(outside)
    _rewrite_dict(root / 'image_set' / 'image_metadata.npy', lambda content: content['test_img_files'].__setitem__(0, named))
    refused(lambda: image_paths(root, 'test'), 'lies outside its data folder')


def test_a_things_image_linked_out_of_the_folder_is_refused_and_one_linked_inside_is_not(things, tmp_path):
    root, outside = _copy(things, tmp_path), _outside_image(tmp_path)
    first, second = image_paths(root, 'test')
    second.unlink()
    second.symlink_to(first)  # inside the folder: accepted
    assert len(image_paths(root, 'test')) == 2
    first.unlink()
    first.symlink_to(outside)
    refused(lambda: image_paths(root, 'test'), 'lies outside its data folder')


def test_a_relative_data_folder_is_held_to_the_same_rule(things, tmp_path, monkeypatch):
    """The folder given relatively (``--things-eeg2 data``): links and '..' names still may not lead out."""
    root, outside = _copy(things, tmp_path), _outside_image(tmp_path)
    monkeypatch.chdir(root.parent)
    relative = Path(root.name)
    first, _ = image_paths(relative, 'test')
    first.unlink()  # relative to the working folder, as the reader made it
    first.symlink_to(outside)
    refused(lambda: image_paths(relative, 'test'), 'lies outside its data folder')
    named = '../../../../elsewhere/private.jpg'
    _rewrite_dict(root / 'image_set' / 'image_metadata.npy', lambda content: content['test_img_files'].__setitem__(1, named))
    refused(lambda: image_paths(relative, 'test'), 'lies outside its data folder')


def test_links_out_of_the_folder_are_followed_only_when_the_setting_says_so(things, tmp_path, monkeypatch):
    """REALNET_FOLLOW_DATA_LINKS=1: an image folder kept elsewhere through links is the user's own;
    a name with '..' leading out is still refused."""
    root, outside = _copy(things, tmp_path), _outside_image(tmp_path)
    first, _ = image_paths(root, 'test')
    first.unlink()
    first.symlink_to(outside)
    monkeypatch.setenv('REALNET_FOLLOW_DATA_LINKS', '1')
    assert image_paths(root, 'test')[0] == first
    _rewrite_dict(root / 'image_set' / 'image_metadata.npy',
                  lambda content: content['test_img_files'].__setitem__(1, '../../../../elsewhere/private.jpg'))
    refused(lambda: image_paths(root, 'test'), 'lies outside its data folder')


@pytest.fixture(scope='module')
def shen(tmp_path_factory):
    return write_shen2019(tmp_path_factory.mktemp('shen') / 'release',
                          ShenDesign(subjects=1, voxels_per_roi=4, image_size=16, train_images=12,
                                     train_repetitions=1))


def test_a_shen_image_linked_out_of_the_folder_is_refused(shen, tmp_path):
    root, outside = _copy(shen, tmp_path), _outside_image(tmp_path)
    image = Path(load_roi(root, 1, 'V1')['image_path'].values[0])
    image.unlink()
    image.symlink_to(outside)
    refused(lambda: load_roi(root, 1, 'V1'), image.name, 'lies outside its data folder')


def test_a_shen_images_folder_linked_elsewhere_is_refused(shen, tmp_path):
    root = _copy(shen, tmp_path)
    shutil.move(root / 'images', tmp_path / 'moved')
    (root / 'images').symlink_to(tmp_path / 'moved')
    refused(lambda: load_training(root, 1), 'lies outside its data folder')


# HDF5: links, virtual and external storage, declared sizes --------------------------------------------

def _outside_copy(h5file, tmp_path) -> Path:
    outside = tmp_path / 'elsewhere.h5'
    shutil.copy(h5file, outside)
    return outside


def _plant(shen, tmp_path, plant):
    """A copy of ``shen`` whose subject-1 test file had ``plant(h5, outside copy of it, data)`` done to it."""
    root = _copy(shen, tmp_path)
    h5file = h5_path(root, 1)
    outside = _outside_copy(h5file, tmp_path)
    with h5py.File(h5file, 'a') as h5:
        data = h5['dataset'][()]
        plant(h5, outside, data)
    return root


def _external_link(h5, outside, data):
    del h5['dataset']
    h5['dataset'] = h5py.ExternalLink(str(outside), '/dataset')


def _soft_link(h5, outside, data):
    h5.move('dataset', 'elsewhere')
    h5['dataset'] = h5py.SoftLink('/elsewhere')


def _virtual(h5, outside, data):
    del h5['dataset']
    layout = h5py.VirtualLayout(shape=data.shape, dtype=data.dtype)
    layout[:] = h5py.VirtualSource(str(outside), 'dataset', shape=data.shape)
    h5.create_virtual_dataset('dataset', layout)


def _external_storage(h5, outside, data):
    del h5['dataset']
    raw = outside.with_suffix('.raw')
    data.tofile(raw)
    h5.create_dataset('dataset', shape=data.shape, dtype=data.dtype, external=[(str(raw), 0, data.nbytes)])


def _twenty_gib(h5, outside, data):
    del h5['dataset']
    h5.create_dataset('dataset', shape=(2 ** 18, 10240), dtype='<f8', chunks=(256, 256))  # unwritten: a tiny file


@pytest.mark.parametrize('plant, words', [
    (_external_link, ('/dataset is an external link to', 'elsewhere.h5')),
    (_soft_link, ('/dataset is a soft link to /elsewhere',)),
    (_virtual, ('/dataset is a virtual dataset',)),
    (_external_storage, ('/dataset is stored in external files',)),
    (_twenty_gib, ('declares shape (262144, 10240) of float64 (21474836480 bytes)', 'refused before reading')),
], ids=['external-link', 'soft-link', 'virtual-dataset', 'external-storage', '20-GiB-dataset'])
def test_hdf5_files_hold_their_own_data_of_a_bounded_size(shen, tmp_path, plant, words):
    root = _plant(shen, tmp_path, plant)
    assert h5_path(root, 1).stat().st_size < 2 ** 20
    refused(lambda: load_roi(root, 1, 'V1'), h5_path(root, 1).name, *words)


def test_a_link_that_is_never_read_is_refused_too(shen, tmp_path):
    def unread(h5, outside, data):
        h5['metadata/notes'] = h5py.ExternalLink(str(outside), '/metadata')
    root = _plant(shen, tmp_path, unread)
    refused(lambda: load_roi(root, 1, 'V1'), '/metadata/notes is an external link')


def test_a_group_hard_linked_into_itself_is_walked_once(shen, tmp_path):
    def loop(h5, outside, data):
        h5['metadata/again'] = h5['metadata']  # a hard link: the same group twice, a cycle
    root = _plant(shen, tmp_path, loop)
    assert load_roi(root, 1, 'V1').shape == (1200, 4)


def test_an_hdf5_dataset_at_the_size_bound_passes_the_check(tmp_path):
    with h5py.File(tmp_path / 'at.h5', 'w') as h5:
        at = h5.create_dataset('at', shape=(2 ** 21, 1024), dtype='<f8', chunks=(256, 256))
        assert at.size * 8 == bounds.HDF5_DATASET_BYTES
        check_storage(tmp_path / 'at.h5', at, '/at')


def test_a_damaged_hdf5_file_is_one_line(shen, tmp_path):
    root = _copy(shen, tmp_path)
    h5file = h5_path(root, 1)
    h5file.write_bytes(h5file.read_bytes()[:4096])
    refused(lambda: load_roi(root, 1, 'V1'), h5file.name, 'not a bdpy HDF5 file')


def test_fmri_values_must_fit_in_float32(shen, tmp_path):
    def huge(h5, outside, data):
        h5['dataset'][:, 0] = 1e39  # column 0 is a voxel of every ROI's first columns
    root = _plant(shen, tmp_path, huge)
    refused(lambda: load_roi(root, 1, 'V1'), 'V1 voxels', 'do not fit in 32-bit floats')
