"""Shen 2019 fMRI: the bdpy reader, the split-half ceiling, the ROI benchmarks end to end."""
import json
import re
import shutil

import h5py
import numpy as np
import pytest
import xarray as xr
from brainscore_vision.model_interface import BrainModel

from factories import SIZE, random_cornet, write_dicarlolab_checkpoint, write_sized_checkpoint
from realnet_brainscore import RealnetError, cli, list_benchmarks, load_benchmark, load_model
from realnet_brainscore.data.shen2019 import load_roi, load_training, read_stimulus_names, stimulus_name
from realnet_brainscore.rsa import split_half_reliability
from realnet_brainscore.synthetic import HiddenBrain, ShenDesign, insilico_cornet, write_shen2019

ROIS = ['V1', 'V2', 'V3', 'V4', 'LOC', 'FFA', 'PPA', 'HVC']


@pytest.fixture(scope='module')
def shen(tmp_path_factory):
    return write_shen2019(tmp_path_factory.mktemp('shen') / 'data', ShenDesign(image_size=SIZE))


@pytest.fixture(scope='module')
def random_weights(tmp_path_factory):
    weights = tmp_path_factory.mktemp('weights') / 'cornet.pth'
    write_dicarlolab_checkpoint(weights, random_cornet(0))
    return weights


def test_stimulus_ids_map_to_imagenet_names():
    assert stimulus_name(1518878.005958) == 'n01518878_5958'
    assert stimulus_name(1443537.022563) == 'n01443537_22563'


@pytest.mark.parametrize('old_spelling', [False, True])
def test_round_trip_through_the_bdpy_layout(tmp_path, old_spelling):
    folder = write_shen2019(tmp_path / 'shen', ShenDesign(voxels_per_roi=10, image_size=16, old_spelling=old_spelling))
    h5file = folder / 'sub-02_perceptionNaturalImageTest_original_VC.h5'
    with h5py.File(h5file, 'r') as h5:
        assert ('dataSet' in h5) == old_spelling and ('metaData' in h5) == old_spelling
        data = h5['dataSet' if old_spelling else 'dataset'][()]
        meta = h5['metaData' if old_spelling else 'metadata']
        keys = [k.decode() for k in meta['key'][()]]
        values = meta['value'][()]
    assert ('ROI_hV4' in keys) == old_spelling and ('ROI_V4' in keys) != old_spelling
    index_column = np.flatnonzero(values[keys.index('image_index')] == 1)[0]
    names = read_stimulus_names(folder)
    for roi in ('V4', 'HVC'):
        key = 'ROI_hV4' if roi == 'V4' and old_spelling else f'ROI_{roi}'
        mask = values[keys.index(key)] == 1
        assembly = load_roi(folder, 2, roi)
        assert assembly.shape == (1200, mask.sum()) and set(assembly['roi'].values) == {roi}
        first = np.flatnonzero(data[:, index_column] == 7)  # image 7's presentations, in order
        np.testing.assert_allclose(assembly.values[assembly['image_index'].values == 7], data[first][:, mask], rtol=1e-6)
        assert set(assembly['stimulus_id'].values[assembly['image_index'].values == 7]) == {names[7]}
    averaged = load_roi(folder, 2, 'V1', average_repetitions=True)
    assert averaged.shape == (50, 10)
    np.testing.assert_allclose(averaged.values[6], load_roi(folder, 2, 'V1').values[6 * 24:7 * 24].mean(0), rtol=1e-5)


def test_split_half_ceiling_of_noiseless_and_pure_noise_rois():
    rng = np.random.default_rng(0)
    signal = rng.normal(size=(50, 1, 30))
    assert split_half_reliability(np.repeat(signal, 24, axis=1)) == pytest.approx(1.0)
    assert abs(split_half_reliability(rng.normal(size=(50, 24, 30)))) < 0.1


def _damaged_copy(shen, tmp_path, change):
    copy = tmp_path / 'copy'
    shutil.copytree(shen, copy)
    change(copy)
    return copy


def _edit_h5(copy, edit):
    with h5py.File(copy / 'sub-01_perceptionNaturalImageTest_original_VC.h5', 'r+') as h5:
        edit(h5)


def _drop_key(h5, key):
    keys = [k.decode() for k in h5['metadata/key'][()]]
    values = h5['metadata/value'][()]
    values[keys.index(key)] = np.nan
    h5['metadata/value'][...] = values


def _nan_voxels(h5):
    data = h5['dataset'][()]
    data[5, 0] = np.nan
    data[9, 3] = np.inf
    h5['dataset'][...] = data


def _fewer_samples(h5):
    data = h5['dataset'][()][:-50]
    del h5['dataset']
    h5.create_dataset('dataset', data=data)


def _replace(h5, name, content):
    """Put ``content`` (an array, or None for an empty group) where the dataset ``name`` was."""
    del h5[name]
    if content is None:
        h5.create_group(name)
    else:
        h5.create_dataset(name, data=content)


H5 = 'sub-01_perceptionNaturalImageTest_original_VC.h5'


@pytest.mark.parametrize('change, message', [
    (lambda c: _edit_h5(c, lambda h5: _replace(h5, 'dataset', None)), f'{H5}: /dataset is a group, not a dataset'),
    (lambda c: _edit_h5(c, lambda h5: _replace(h5, 'metadata/key', None)), '/metadata/key is a group, not a dataset'),
    (lambda c: _edit_h5(c, lambda h5: _replace(h5, 'metadata/value', h5['metadata/value'][:5])),
     r'/metadata/value has shape \(5, 283\); expected \(14, 283\): a row for each of the 14 keys'),
    (lambda c: _edit_h5(c, lambda h5: _replace(h5, 'dataset', h5['dataset'][()].astype('S32'))),
     r'/dataset holds byte strings \(dtype \|S32\); expected numbers'),
    (lambda c: (c / 'stimulus_ImageNetTest.tsv').write_bytes(bytes(range(256))),
     'stimulus_ImageNetTest.tsv: not a text file .byte 128 is not UTF-8.'),
    (lambda c: _edit_h5(c, lambda h5: _drop_key(h5, 'ROI_V1')), 'the ROI_V1 key marks no column|no ROI_V1'),
    (lambda c: (c / 'images' / f'{read_stimulus_names(c)[1]}.JPEG').unlink(), '1 of 50 stimulus images are missing'),
    (lambda c: _edit_h5(c, _fewer_samples), '1150 samples of 50 images; expected 50 images × 24 repetitions'),
    (lambda c: _edit_h5(c, _nan_voxels), '2 of 40 V1 voxels hold NaN or infinite values; pass `drop_nan_voxels`'),
    (lambda c: (c / 'stimulus_ImageNetTest.tsv').write_text('n01000000_1\t1\n'), 'no image name for image indices'),
])
def test_bad_inputs_are_refused(shen, tmp_path, change, message):
    copy = _damaged_copy(shen, tmp_path, change)
    with pytest.raises(RealnetError, match=message) as refused:
        load_roi(copy, 1, 'V1')
    assert '\n' not in str(refused.value)


def _all_nan_v1(h5):
    keys = [k.decode() for k in h5['metadata/key'][()]]
    data = h5['dataset'][()]
    data[:, h5['metadata/value'][keys.index('ROI_V1')] == 1] = np.nan
    h5['dataset'][...] = data


@pytest.mark.parametrize('change, message', [
    (lambda c: _edit_h5(c, _all_nan_v1), f'{H5}: 0 usable V1 voxels .of 40; 40 hold NaN or infinite values.; an RDM'),
    (lambda c: sorted((c / 'images').glob('*.JPEG'))[3].write_bytes(b''), r'\.JPEG: an empty file; replace it'),
    (lambda c: (lambda image: image.write_bytes(image.read_bytes()[:300]))(sorted((c / 'images').glob('*.JPEG'))[3]),
     r'\.JPEG: damaged image \(.*\); replace it'),
])
def test_score_refuses_unusable_data_in_one_line(shen, random_weights, tmp_path, capsys, change, message):
    """What score meets only after the data are read: a ROI whose voxels are all dropped, a damaged
    stimulus image (found before any image reaches the model)."""
    copy = _damaged_copy(shen, tmp_path, change)
    assert cli.main(['score', '--model', 'cornet-s', '--weights', str(random_weights), '--benchmark', 'Shen2019.V1-rsa',
                     '--shen2019', str(copy), '--drop-nan-voxels', '-q']) == 2
    error = capsys.readouterr().err
    assert error.count('\n') == 1 and re.search(message, error), error


def test_nan_voxels_are_dropped_on_request(shen, tmp_path):
    copy = _damaged_copy(shen, tmp_path, lambda c: _edit_h5(c, _nan_voxels))
    assert load_roi(copy, 1, 'V1', drop_nan_voxels=True).shape == (1200, 38)
    with pytest.raises(RealnetError, match='2 of 40 V1 voxels'):
        load_benchmark('Shen2019.V1-rsa', shen2019=copy).reference()
    reference = load_benchmark('Shen2019.V1-rsa', shen2019=copy, drop_nan_voxels=True).reference()
    assert reference.rdms.shape == (3, 1225)


def test_an_roi_rdm_that_is_undefined_is_refused(shen, tmp_path):
    def flat_image(h5):  # image 7 evokes one value in every V1 voxel
        keys = [k.decode() for k in h5['metadata/key'][()]]
        values = h5['metadata/value'][()]
        data = h5['dataset'][()]
        image_7 = data[:, values[keys.index('image_index')] == 1][:, 0] == 7
        data[np.ix_(image_7, values[keys.index('ROI_V1')] == 1)] = 1.0
        h5['dataset'][...] = data
    copy = _damaged_copy(shen, tmp_path, lambda c: _edit_h5(c, flat_image))
    with pytest.raises(RealnetError, match=f'{H5}: the V1 RDM is undefined: some image evokes the same value in every'):
        load_benchmark('Shen2019.V1-rsa', shen2019=copy).reference()


class HiddenFeatureModel(BrainModel):
    """A stand-in brain model whose 'V1' responds with the in-silico brain's early features and
    whose 'IT' with its late features: the ground truth the ROIs were planted from."""

    def __init__(self, seed=0):
        self.brain, self.region = HiddenBrain(seed), None

    def visual_degrees(self):
        return 12

    def start_task(self, task, *args, **kwargs):
        pass

    def start_recording(self, region, time_bins):
        self.region = region

    def look_at(self, stimuli, number_of_trials=1):
        from PIL import Image
        ids = list(stimuli['stimulus_id'])
        pixels = np.stack([np.asarray(Image.open(stimuli.get_stimulus(i)).convert('RGB').resize((SIZE, SIZE)))
                           for i in ids])
        features = self.brain.features(pixels)['early' if self.region == 'V1' else 'late']
        features = (features - features.mean(0)) / features.std(0)  # as the voxels saw them
        return xr.DataArray(features, dims=('presentation', 'neuroid'), coords={'stimulus_id': ('presentation', ids)})


def _region_scores(model, shen, roi):
    benchmark = load_benchmark(f'Shen2019.{roi}-rsa', shen2019=shen)
    scores = {}
    for region in ('V1', 'IT'):
        benchmark.region = region
        scores[region] = float(benchmark(model).attrs['raw'].mean())
    return scores


def test_planted_depth_is_recovered(shen):
    deep, early = (_region_scores(HiddenFeatureModel(), shen, roi) for roi in ('HVC', 'V1'))
    assert deep['IT'] > deep['V1'] + 0.1 and early['V1'] > early['IT'] + 0.1


def test_cornet_regions_follow_roi_depth(shen, tmp_path):
    """A random CORnet-S: its IT matches deep ROIs better than early ones, its V1 the reverse
    (measured: IT 0.07 -> 0.22, V1 0.66 -> 0.54 from ROI V1 to HVC)."""
    weights = tmp_path / 'cornet.pth'
    test_images = [shen / 'images' / f'{name}.JPEG' for name in read_stimulus_names(shen).values()]
    write_dicarlolab_checkpoint(weights, insilico_cornet(test_images, SIZE))
    model = load_model('cornet-s', weights=weights, batch_size=50, image_size=SIZE)
    deep, early = (_region_scores(model, shen, roi) for roi in ('HVC', 'V1'))
    assert deep['IT'] > early['IT'] + 0.05 and early['V1'] > deep['V1'] + 0.05


def test_benchmarks_listed_found_through_the_environment_and_scored_from_the_cli(shen, tmp_path, monkeypatch, capsys):
    assert [b for b in list_benchmarks() if b.startswith('Shen')] == [f'Shen2019.{r}-rsa' for r in ROIS]
    monkeypatch.setenv('REALNET_SHEN2019', str(shen))
    benchmark = load_benchmark('Shen2019.PPA-rsa')
    assert benchmark.region == 'IT' and 0.5 < float(benchmark.ceiling) <= 1
    weights = tmp_path / 'cornet.pth'
    write_sized_checkpoint(weights, insilico_cornet(sorted((shen / 'images').glob('*.JPEG'))[:8], SIZE))
    out = tmp_path / 'score.json'
    monkeypatch.delenv('REALNET_SHEN2019')
    assert cli.main(['score', '--model', 'cornet-s', '--weights', str(weights), '--benchmark', 'Shen2019.V1-rsa',
                     '--shen2019', str(shen), '--batch-size', '50', '--json', str(out), '-q']) == 0
    record = json.loads(out.read_text())
    assert record['raw']['dims'] == ['subject'] and len(record['ceiling']['values']) == 3
    assert record['score'] == pytest.approx(np.mean(record['raw']['values']) / np.mean(record['ceiling']['values']))
    assert cli.main(['score', '--model', 'cornet-s', '--weights', str(weights), '--benchmark', 'Shen2019.V1-rsa',
                     '--shen2019', str(shen), '--batch-size', '50', '--layers', 'all', '-q']) == 0
    assert len(re.findall(r'Shen2019.V1-rsa, region (V1|V2|V4|IT): ', capsys.readouterr().out)) == 4
    assert cli.main(['score', '--model', 'cornet-s', '--weights', str(weights), '--benchmark', 'Shen2019.V1-rsa',
                     '-q']) == 2
    assert 'no Shen 2019 data: pass --shen2019 DIR' in capsys.readouterr().err


def test_roi_figure_marks_a_consistent_difference(tmp_path, capsys):
    """Ten 'ReAlnets' that all beat the baseline in LOC and scatter around it in V1."""
    rng = np.random.default_rng(0)
    files = []
    for index, model in enumerate(['cornet-s'] + [f'realnet-s{n:02d}' for n in range(1, 11)]):
        for roi, shift in (('V1', 0.0), ('LOC', 0.1)):
            score = 0.5 + (0 if index == 0 else shift + rng.normal(0, 0.02))
            record = {'model': model, 'benchmark': f'Shen2019.{roi}-rsa', 'score': score,
                      'raw': {'dims': ['subject'], 'values': [score] * 3}}
            files.append(tmp_path / f'{model}-{roi}.json')
            files[-1].write_text(json.dumps(record))
    out = tmp_path / 'rois.png'
    assert cli.main(['report', '--scores', *map(str, files), '--out', str(out)]) == 0
    printed = dict(re.findall(r'(\w+): p = ([\d.e-]+)', capsys.readouterr().out))
    assert float(printed['LOC']) < 0.001 and float(printed['V1']) > 0.05 and out.stat().st_size > 5000


# Training session ----------------------------------------------------------------------------------
TRAINING_H5 = 'sub-01_perceptionNaturalImageTraining_original_VC.h5'


@pytest.fixture(scope='module')
def shen_training(tmp_path_factory):
    design = ShenDesign(subjects=2, voxels_per_roi=10, image_size=16, train_images=12, train_repetitions=3)
    return write_shen2019(tmp_path_factory.mktemp('shen-training') / 'data', design)


def _read_bdpy(path):
    """data, keys and key -> column mask, read here with plain h5py."""
    with h5py.File(path, 'r') as h5:
        data, values = h5['dataset'][()], h5['metadata/value'][()]
        keys = [k.decode() for k in h5['metadata/key'][()]]
    return data, {key: values[row] == 1 for row, key in enumerate(keys)}


def test_training_round_trip_averages_each_images_repetitions(shen_training):
    data, masks = _read_bdpy(shen_training / TRAINING_H5)
    ids = data[:, masks['stimulus_id']][:, 0]
    names = sorted({stimulus_name(v) for v in ids})
    assert data.shape[0] == 12 * 3 and len(names) == 12
    assert not set(names) & set(read_stimulus_names(shen_training).values())  # distinct from the test images
    index = data[:, masks['image_index']][:, 0]
    assert sorted(set(index)) == list(range(1, 13)) and len({(i, v) for i, v in zip(index, ids)}) == 12
    training = load_training(shen_training, 1)
    assert training.voxels.dtype == np.float32 and training.voxels.shape == (12, 70) == (12, masks['ROI_VC'].sum())
    assert [p.name for p in training.image_paths] == [f'{name}.JPEG' for name in names]
    assert all(p.is_file() and p.parent == shen_training / 'images' for p in training.image_paths)
    for row, name in enumerate(names):
        repetitions = data[[stimulus_name(v) == name for v in ids]][:, masks['ROI_VC']]
        assert len(repetitions) == 3
        np.testing.assert_allclose(training.voxels[row], repetitions.mean(0), rtol=1e-5, atol=1e-6)
    assert not np.allclose(training.voxels, load_training(shen_training, 2).voxels)


def test_training_responses_carry_the_test_sessions_voxel_weights(tmp_path):
    """A linear map from the hidden brain's features to a subject's training voxels predicts that
    subject's test-set voxels, not another subject's: one brain, one set of weights per subject."""
    folder = write_shen2019(tmp_path / 'shen', ShenDesign(subjects=2, voxels_per_roi=10, image_size=16,
                                                          train_images=120, train_repetitions=4))
    brain = HiddenBrain(0)

    def features(paths):
        from PIL import Image
        found = brain.features(np.stack([np.asarray(Image.open(p).convert('RGB')) for p in paths]))
        return np.hstack([(v - v.mean(0)) / (v.std(0) + 1e-6) for v in found.values()])

    training = load_training(folder, 1)
    weights = np.linalg.lstsq(features(training.image_paths), training.voxels, rcond=None)[0]
    test = {s: load_roi(folder, s, 'V1', average_repetitions=True) for s in (1, 2)}
    predicted = features(test[1]['image_path'].values) @ weights[:, :10]  # V1: the first ten VC voxels

    def fit(subject):
        return np.mean([np.corrcoef(predicted[:, v], test[subject].values[:, v])[0, 1] for v in range(10)])
    assert fit(1) > 0.6 and abs(fit(2)) < 0.3, (fit(1), fit(2))


def _edit_training(copy, edit):
    with h5py.File(copy / TRAINING_H5, 'r+') as h5:
        data = h5['dataset'][()]
        keys = [k.decode() for k in h5['metadata/key'][()]]
        masks = {key: row == 1 for key, row in zip(keys, h5['metadata/value'][()])}
        edit(data, masks, keys)
        h5['dataset'][...] = data
        h5['metadata/key'][...] = np.array([k.encode() for k in keys])


def _renamed(key, name):
    def edit(data, masks, keys):
        keys[keys.index(key)] = name
    return edit


def _set(rows, key, value):
    def edit(data, masks, keys):
        data[rows, masks[key]] = value
    return edit


def _few_images(data, masks, keys):
    ids = data[:, masks['stimulus_id']]
    data[:, masks['stimulus_id']] = ids[np.arange(len(ids)) % 4]  # the first four ids only


def _nan_training_voxels(data, masks, keys):
    data[3, np.flatnonzero(masks['ROI_VC'])[[0, 5]]] = [np.nan, np.inf]


@pytest.mark.parametrize('change, message', [
    (lambda c: (c / TRAINING_H5).unlink(),
     f'{TRAINING_H5}: missing; expected the Shen 2019 training-session file .ReAlnet-fMRI training needs it.'),
    (lambda c: _edit_training(c, _renamed('stimulus_id', 'Label')),
     'no stimulus_id key; the training session names its images only there'),
    (lambda c: _edit_training(c, _set(7, 'stimulus_id', np.nan)),
     'the stimulus_id column holds NaN or infinite values'),
    (lambda c: _edit_training(c, _renamed('ROI_VC', 'ROI_XX')), 'no ROI_VC key'),
    (lambda c: _edit_training(c, _nan_training_voxels),
     '2 of 70 VC voxels hold NaN or infinite values; pass `drop_nan_voxels`'),
    (lambda c: _edit_training(c, _set(slice(None), 'ROI_VC', np.nan)),
     '0 usable VC voxels .of 70; 70 hold NaN or infinite values.; ReAlnet-fMRI training needs at least 2'),
    (lambda c: sorted((c / 'images').glob('n02*.JPEG'))[4].unlink(),
     r'1 of 12 stimulus images are missing from .*, e\.g\. n02'),
    (lambda c: _edit_training(c, _few_images), f'{TRAINING_H5}: 4 images; ReAlnet-fMRI training needs at least 10'),
])
def test_unusable_training_data_is_refused_in_one_line(shen_training, tmp_path, change, message):
    copy = _damaged_copy(shen_training, tmp_path, change)
    with pytest.raises(RealnetError, match=message) as refused:
        load_training(copy, 1, drop_nan_voxels='0 usable' in message)
    assert '\n' not in str(refused.value)


def test_nan_training_voxels_are_dropped_on_request(shen_training, tmp_path):
    copy = _damaged_copy(shen_training, tmp_path, lambda c: _edit_training(c, _nan_training_voxels))
    kept = np.delete(load_training(shen_training, 1).voxels, [0, 5], axis=1)
    np.testing.assert_array_equal(load_training(copy, 1, drop_nan_voxels=True).voxels, kept)


def test_the_training_session_leaves_the_test_session_unchanged(tmp_path):
    folders = [write_shen2019(tmp_path / f'train-{n}', ShenDesign(subjects=2, voxels_per_roi=5, image_size=16,
                                                                  train_images=n, train_repetitions=n // 10))
               for n in (10, 20)]
    test_files = ['stimulus_ImageNetTest.tsv', 'sub-01_perceptionNaturalImageTest_original_VC.h5',
                  'sub-02_perceptionNaturalImageTest_original_VC.h5',
                  *(f'images/{name}.JPEG' for name in read_stimulus_names(folders[0]).values())]
    for name in test_files:
        assert (folders[0] / name).read_bytes() == (folders[1] / name).read_bytes(), name
    assert len(list(folders[1].glob('images/*'))) == 50 + 20
    assert (folders[0] / TRAINING_H5).read_bytes() != (folders[1] / TRAINING_H5).read_bytes()


def test_synth_writes_a_shen_folder_with_both_sessions_on_request(tmp_path, capsys):
    arguments = ['synth', '--out', str(tmp_path / 'eeg'), '--subjects', '1', '--concepts', '2', '--images-per-concept',
                 '1', '--test-images', '2', '--image-size', '16', '--seed', '3', '--shen2019']
    assert cli.main([*arguments, str(tmp_path / 'shen')]) == 0
    assert f'(3 subjects; test session 50 images × 24, training session 120 images × 2) to {tmp_path / "shen"}' \
        in capsys.readouterr().out
    assert load_training(tmp_path / 'shen', 3).voxels.shape == (120, 280)
    assert load_roi(tmp_path / 'shen', 3, 'V1').shape == (1200, 40)
    written = write_shen2019(tmp_path / 'by-hand', ShenDesign(image_size=16, seed=3))
    assert (written / TRAINING_H5).read_bytes() == (tmp_path / 'shen' / TRAINING_H5).read_bytes()
    (tmp_path / 'taken').mkdir()
    (tmp_path / 'taken' / 'notes.txt').write_text('mine')
    arguments[2] = str(tmp_path / 'eeg-2')
    assert cli.main([*arguments, str(tmp_path / 'taken')]) == 2
    assert 'taken exists and is not an empty folder; choose a new --shen2019' in capsys.readouterr().err
    assert not (tmp_path / 'eeg-2').exists()
