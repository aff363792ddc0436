"""THINGS-EEG2 readers, on files written in the published layout by the in-silico generator."""
import numpy as np
import pytest

from realnet_brainscore import RealnetError
from realnet_brainscore.data.things_eeg2 import CHANNELS, from_gifford2022, image_paths, load_subject
from realnet_brainscore.synthetic import Design, write_things_eeg2

SMALL = Design(subjects=2, concepts=6, images_per_concept=2, test_images=4, test_repetitions=6, image_size=32)


@pytest.fixture(scope='module')
def release(tmp_path_factory):
    return write_things_eeg2(tmp_path_factory.mktemp('things') / 'THINGS-EEG2', SMALL)


def _raw(root, subject, split):
    file = 'preprocessed_eeg_training.npy' if split == 'training' else 'preprocessed_eeg_test.npy'
    return np.load(root / 'preprocessed_data' / f'sub-{subject:02d}' / file, allow_pickle=True).item()


def test_published_keys_channels_and_times(release):
    raw = _raw(release, 1, 'training')
    assert set(raw) == {'preprocessed_eeg_data', 'ch_names', 'times'}
    assert raw['preprocessed_eeg_data'].shape == (12, 4, 17, 100) and raw['preprocessed_eeg_data'].dtype == np.float64
    assert raw['ch_names'] == 'Pz P3 P7 O1 Oz O2 P4 P8 P1 P5 PO7 PO3 POz PO4 PO8 P6 P2'.split()
    np.testing.assert_allclose(raw['times'], np.arange(-0.2, 0.795, 0.01), atol=1e-9)
    metadata = np.load(release / 'image_set' / 'image_metadata.npy', allow_pickle=True).item()
    assert set(metadata) == {f'{s}_img_{k}' for s in ('train', 'test') for k in ('concepts', 'files', 'concepts_THINGS')}
    assert metadata['train_img_files'][0].endswith('_01b.jpg') and metadata['test_img_files'][0].endswith('_01s.jpg')


def test_reader_keeps_condition_order_and_values(release):
    assembly = load_subject(release, 1, 'training')
    raw = _raw(release, 1, 'training')['preprocessed_eeg_data']
    assert assembly.dims == ('presentation', 'neuroid', 'time_bin') and assembly.shape == (48, 17, 100)
    np.testing.assert_allclose(assembly.values, raw.reshape(48, 17, 100), rtol=1e-6)
    paths = image_paths(release, 'training')
    assert list(assembly['image_path'].values[::4]) == [str(p) for p in paths]
    assert list(assembly['stimulus_id'].values[:5]) == [paths[0].stem] * 4 + [paths[1].stem]
    assert list(assembly['repetition'].values[:5]) == [0, 1, 2, 3, 0]
    assert list(assembly['channel'].values) == list(CHANNELS) and set(assembly['subject'].values) == {'sub-01'}
    assert assembly['time_bin_start'].values[20] == 0.0 and assembly['time_bin_end'].values[20] == 0.01


def test_repetition_average(release):
    averaged = load_subject(release, 2, 'test', average_repetitions=True)
    raw = _raw(release, 2, 'test')['preprocessed_eeg_data']
    assert averaged.shape == (4, 17, 100)
    np.testing.assert_allclose(averaged.values, raw.mean(axis=1), rtol=1e-5, atol=1e-6)


def test_float32_files_and_string_arrays_are_accepted(release, tmp_path):
    import shutil
    copy = tmp_path / 'copy'
    shutil.copytree(release, copy)
    file = copy / 'preprocessed_data' / 'sub-01' / 'preprocessed_eeg_test.npy'
    raw = _raw(copy, 1, 'test')
    raw['preprocessed_eeg_data'] = raw['preprocessed_eeg_data'].astype(np.float32)
    raw['ch_names'] = np.array(raw['ch_names'])
    np.save(file, raw, allow_pickle=True)
    metadata_file = copy / 'image_set' / 'image_metadata.npy'
    metadata = np.load(metadata_file, allow_pickle=True).item()
    np.save(metadata_file, {k: np.array(v) for k, v in metadata.items()}, allow_pickle=True)
    assembly = load_subject(copy, 1, 'test')
    np.testing.assert_allclose(assembly.values, load_subject(release, 1, 'test').values, rtol=1e-6)


def _damage(root, subject, split, change):
    file = root / 'preprocessed_data' / f'sub-{subject:02d}' / (
        'preprocessed_eeg_training.npy' if split == 'training' else 'preprocessed_eeg_test.npy')
    raw = _raw(root, subject, split)
    change(raw)
    np.save(file, raw, allow_pickle=True)


@pytest.mark.parametrize('change, message', [
    (lambda raw: raw.update(preprocessed_eeg_data=raw['preprocessed_eeg_data'][:, :, :16]), 'has shape .*expected'),
    (lambda raw: raw['preprocessed_eeg_data'].__setitem__((0, 0, 0, 0), np.nan), '1 values are NaN or infinite'),
    (lambda raw: raw.update(preprocessed_eeg_data=raw['preprocessed_eeg_data'][:3]), '3 EEG conditions but 4 test images'),
    (lambda raw: raw.pop('times'), "no 'times' entry"),
    (lambda raw: raw.update(preprocessed_eeg_data=raw['preprocessed_eeg_data'].astype(str)),
     r"preprocessed_eeg_test.npy: 'preprocessed_eeg_data' holds text \(dtype <U\d+\); expected numbers"),
    (lambda raw: raw.update(times=[str(t) for t in raw['times']]), r"'times' holds text \(dtype <U\d+\); expected numbers"),
    (lambda raw: raw.update(ch_names=17), "'ch_names' is not a list of channel names"),
])
def test_bad_eeg_files_are_refused(release, tmp_path, change, message):
    import shutil
    copy = tmp_path / 'copy'
    shutil.copytree(release, copy)
    _damage(copy, 1, 'test', change)
    with pytest.raises(RealnetError, match=message) as refused:
        load_subject(copy, 1, 'test')
    assert '\n' not in str(refused.value)


@pytest.mark.parametrize('entry, value, message', [
    ('test_img_concepts', 4, "test_img_concepts is not a list of image concepts"),
    ('test_img_files', 'one.jpg', "test_img_files is not a list of image file names"),
])
def test_bad_image_metadata_is_refused(release, tmp_path, entry, value, message):
    import shutil
    copy = tmp_path / 'copy'
    shutil.copytree(release, copy)
    metadata_file = copy / 'image_set' / 'image_metadata.npy'
    metadata = np.load(metadata_file, allow_pickle=True).item()
    metadata[entry] = value
    np.save(metadata_file, metadata, allow_pickle=True)
    with pytest.raises(RealnetError, match=f'image_metadata.npy: {message}') as refused:
        image_paths(copy, 'test')
    assert '\n' not in str(refused.value)


def test_other_channels_than_the_posterior_17_are_a_one_line_warning(release, tmp_path, capsys, monkeypatch):
    import shutil
    from realnet_brainscore.data import things_eeg2
    monkeypatch.setattr(things_eeg2, '_WARNED', set())  # what earlier tests may have reported
    load_subject(release, 1, 'test')
    assert capsys.readouterr().err == ''  # the published channels (the in-silico data's too): no word
    copy = tmp_path / 'copy'
    shutil.copytree(release, copy)
    for subject in (1, 2):
        _damage(copy, subject, 'test', lambda raw: raw.update(ch_names=['Fp1', 'Cz'] + raw['ch_names'][2:]))
    assert load_subject(copy, 1, 'test').sizes['neuroid'] == 17  # a warning, not an error
    load_subject(copy, 2, 'test')  # the same difference again: said once
    error = capsys.readouterr().err
    assert error.count('\n') == 1 and error.startswith('warning: '), error
    assert ("sub-01/preprocessed_eeg_test.npy: EEG channels differ from THINGS-EEG2's 17 posterior channels "
            "(others: Fp1, Cz; missing: Pz, P3)") in error


def test_missing_things_are_named(release, tmp_path):
    with pytest.raises(RealnetError, match='sub-03/preprocessed_eeg_test.npy: missing'):
        load_subject(release, 3, 'test')
    with pytest.raises(RealnetError, match='unknown THINGS-EEG2 subject 11'):
        load_subject(release, 11, 'test')
    with pytest.raises(RealnetError, match='image_metadata.npy: missing'):
        image_paths(tmp_path, 'test')
    import shutil
    copy = tmp_path / 'copy'
    shutil.copytree(release, copy)
    next((copy / 'image_set' / 'test_images').rglob('*.jpg')).unlink()
    with pytest.raises(RealnetError, match='1 of 4 test images are missing'):
        load_subject(copy, 1, 'test')


def _brainscore_style(release, split, subjects=(1, 2)):
    """All subjects in one assembly, as Brain-Score's Gifford2022 packaging builds it (z-scored)."""
    from brainscore_core.supported_data_standards.brainio.assemblies import NeuroidAssembly
    paths = image_paths(release, split)
    blocks = []
    for subject in subjects:
        data = _raw(release, subject, split)['preprocessed_eeg_data']
        data = (data - data.mean(axis=(0, 1))) / data.std(axis=(0, 1))
        blocks.append(data.reshape(-1, 17, 100))
    n_repetitions = blocks[0].shape[0] // len(paths)
    times = _raw(release, 1, split)['times']
    return NeuroidAssembly(np.concatenate(blocks, axis=1), dims=['presentation', 'neuroid', 'time_bin'], coords={
        'stimulus_id': ('presentation', np.repeat([p.stem for p in paths], n_repetitions)),
        'repetition': ('presentation', np.tile(np.arange(n_repetitions), len(paths))),
        'subject': ('neuroid', [f'sub-{s:02d}' for s in subjects for _ in CHANNELS]),
        'neuroid_id': ('neuroid', list(range(17)) * len(subjects)),
        'channel': ('neuroid', list(CHANNELS) * len(subjects)),
        'time_bin_start': ('time_bin', np.round(times, 2)),
        'time_bin_end': ('time_bin', np.round(times + 0.01, 2))})


def test_brainscore_assembly_converts_to_the_same_form(release):
    hosted = _brainscore_style(release, 'test')
    shuffled = hosted.isel(presentation=np.random.default_rng(0).permutation(hosted.sizes['presentation']))
    converted = from_gifford2022(shuffled, 2, average_repetitions=True)
    ours = load_subject(release, 2, 'test', average_repetitions=True)
    assert converted.dims == ours.dims and converted.shape == ours.shape
    assert sorted(converted['stimulus_id'].values) == sorted(ours['stimulus_id'].values)
    order = [list(ours['stimulus_id'].values).index(i) for i in converted['stimulus_id'].values]
    raw = _raw(release, 2, 'test')['preprocessed_eeg_data']
    zscored = (raw - raw.mean(axis=(0, 1))) / raw.std(axis=(0, 1))
    np.testing.assert_allclose(converted.values, zscored.mean(axis=1)[order], rtol=1e-4, atol=1e-5)
    in_order = from_gifford2022(hosted, 1)  # stimuli keep the order in which the assembly first shows them
    assert list(in_order['stimulus_id'].values[::6]) == list(ours['stimulus_id'].values)
    with pytest.raises(RealnetError, match='sub-05 is not in the assembly'):
        from_gifford2022(hosted, 5)


def test_duplicate_stimulus_ids_are_refused(release, tmp_path):
    import shutil
    copy = tmp_path / 'copy'
    shutil.copytree(release, copy)
    metadata_file = copy / 'image_set' / 'image_metadata.npy'
    metadata = np.load(metadata_file, allow_pickle=True).item()
    first, second = metadata['test_img_files'][:2]
    concept = metadata['test_img_concepts'][1]
    shutil.copy(copy / 'image_set' / 'test_images' / concept / second,
                copy / 'image_set' / 'test_images' / concept / first)
    metadata['test_img_files'][1] = first  # two conditions now name files with the same stem
    np.save(metadata_file, metadata, allow_pickle=True)
    with pytest.raises(RealnetError, match=f'duplicate stimulus ids, e.g. {first[:-4]}'):
        load_subject(copy, 1, 'test')


def test_hosted_data_goes_through_brainscore(release, monkeypatch):
    import brainscore_vision
    from realnet_brainscore.data.things_eeg2 import load_hosted
    asked = []
    monkeypatch.setattr(brainscore_vision, 'load_dataset',
                        lambda identifier: asked.append(identifier) or _brainscore_style(release, 'test'))
    assembly = load_hosted(1, 'test', average_repetitions=True)
    assert asked == ['Gifford2022_test'] and assembly.shape == (4, 17, 100)

    def offline(identifier):
        raise ConnectionError('Could not connect to the endpoint URL')
    monkeypatch.setattr(brainscore_vision, 'load_dataset', offline)
    with pytest.raises(RealnetError, match='Gifford2022_train could not be loaded .Could not connect'):
        load_hosted(1, 'training')


@pytest.mark.parametrize('method', ['correlation', 'decoding'])
def test_osf_files_and_brainscores_packaging_give_the_same_rdms(tmp_path, monkeypatch, method):
    """One in-silico set read from the OSF files and packaged as Brain-Score packages Gifford2022_test
    (z-scored per channel × time, stored as float32): the benchmark's EEG RDMs agree, while the
    raw files' correlation RDMs (what the package computed before) differ from the packaged ones."""
    import brainscore_vision
    from realnet_brainscore.benchmarks.gifford2022_temporal_rsa.benchmark import eeg_reference
    from realnet_brainscore.data.things_eeg2 import trials
    from realnet_brainscore.rsa import eeg_rdms
    release = write_things_eeg2(tmp_path / 'things', Design(subjects=2, concepts=2, images_per_concept=1,
                                                            test_images=6, test_repetitions=20, image_size=16))
    hosted = _brainscore_style(release, 'test').astype(np.float32)
    monkeypatch.setattr(brainscore_vision, 'load_dataset', lambda identifier: hosted)
    osf, packaged = (eeg_reference.__wrapped__(folder, (1, 2), method) for folder in (str(release), None))
    assert osf.stimulus_ids == packaged.stimulus_ids and np.allclose(osf.times, packaged.times)
    difference = np.abs(osf.rdms - packaged.rdms)
    print(f'{method}: max |OSF − packaged| = {difference.max():.2g}, mean {difference.mean():.2g}')
    if method == 'correlation':
        assert difference.max() < 1e-4
        raw = eeg_rdms(trials(load_subject(release, 1, 'test'))[3], 'correlation')
        assert np.abs(raw - packaged.rdms[0]).mean() > 0.01
    else:  # float32 rounding may flip a rare SVM prediction: one flip moves an entry by ≤ 1/40
        assert difference.mean() < 1e-3 and difference.max() <= 0.025


class _Payload:
    """Pickles as a call to open(marker, 'w'): reading it with plain pickle would create the file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return open, (self.marker, 'w')


@pytest.mark.parametrize('file', ['image_set/image_metadata.npy', 'preprocessed_data/sub-01/preprocessed_eeg_test.npy'])
def test_code_planted_in_a_data_file_does_not_run(release, tmp_path, file):
    import shutil
    copy = tmp_path / 'copy'
    shutil.copytree(release, copy)
    marker = tmp_path / 'payload-ran'
    content = np.load(copy / file, allow_pickle=True).item()
    content['extra'] = _Payload(marker)
    np.save(copy / file, content, allow_pickle=True)
    np.load(copy / file, allow_pickle=True)  # control: plain pickle runs the payload
    assert marker.exists()
    marker.unlink()
    with pytest.raises(RealnetError, match=r"preprocessed_eeg_test.npy|image_metadata.npy") as refused:
        load_subject(copy, 1, 'test')
    assert 'refused: it names io.open' in str(refused.value) and '\n' not in str(refused.value)
    assert not marker.exists()
    assert len(load_subject(release, 1, 'test')['stimulus_id']) == 4 * 6  # the published form still reads
