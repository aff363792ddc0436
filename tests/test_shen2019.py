"""Shen 2019 fMRI: the bdpy reader, the split-half ceiling, the ROI benchmarks end to end."""
import json
import re
import shutil

import h5py
import numpy as np
import pytest
import xarray as xr
from brainscore_vision.model_interface import BrainModel

from factories import SIZE, random_cornet, write_dicarlolab_checkpoint
from realnet_brainscore import RealnetError, cli, list_benchmarks, load_benchmark, load_model
from realnet_brainscore.data.shen2019 import load_roi, read_stimulus_names, stimulus_name
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
    (lambda c: next((c / 'images').glob('*.JPEG')).unlink(), '1 of 50 stimulus images are missing'),
    (lambda c: _edit_h5(c, _fewer_samples), '1150 samples of 50 images; expected 50 images × 24 repetitions'),
    (lambda c: _edit_h5(c, _nan_voxels), '2 of 40 V1 voxels hold NaN or infinite values; pass --drop-nan-voxels'),
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
    write_dicarlolab_checkpoint(weights, insilico_cornet(sorted((shen / 'images').glob('*.JPEG')), SIZE))
    model = load_model('cornet-s', weights=weights, batch_size=50, image_size=SIZE)
    deep, early = (_region_scores(model, shen, roi) for roi in ('HVC', 'V1'))
    assert deep['IT'] > early['IT'] + 0.05 and early['V1'] > deep['V1'] + 0.05


def test_benchmarks_listed_found_through_the_environment_and_scored_from_the_cli(shen, tmp_path, monkeypatch, capsys):
    assert [b for b in list_benchmarks() if b.startswith('Shen')] == [f'Shen2019.{r}-rsa' for r in ROIS]
    monkeypatch.setenv('REALNET_SHEN2019', str(shen))
    benchmark = load_benchmark('Shen2019.PPA-rsa')
    assert benchmark.region == 'IT' and 0.5 < float(benchmark.ceiling) <= 1
    weights = tmp_path / 'cornet.pth'
    write_dicarlolab_checkpoint(weights, insilico_cornet(sorted((shen / 'images').glob('*.JPEG'))[:8], SIZE))
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
