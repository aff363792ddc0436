"""The THINGS-EEG2 temporal RSA benchmarks end to end: ModelCommitment, in-silico subjects, CLI."""
import json
import re
import shutil

import numpy as np
import pytest

from factories import SIZE
from realnet_brainscore import RealnetError, cli, list_benchmarks, load_benchmark, load_model
from realnet_brainscore.records import ScoreRecord
from realnet_brainscore.statistics import cluster_test

REGIONS = ('V1', 'V2', 'V4', 'IT')


def test_listed_and_loadable():
    assert [b for b in list_benchmarks() if b.startswith('Gifford')] == [f'Gifford2022.{r}-temporal_rsa' for r in REGIONS]
    benchmark = load_benchmark('Gifford2022.IT-temporal_rsa', things_eeg2='somewhere')
    assert benchmark.identifier == 'Gifford2022.IT-temporal_rsa' and benchmark.region == 'IT'
    assert str(benchmark.things_eeg2) == 'somewhere' and 'Gifford' in benchmark.bibtex
    assert benchmark.kind == 'EEG' and benchmark.parent == 'IT'
    with pytest.raises(RealnetError, match="unknown benchmark 'Gifford2022.MT-temporal_rsa'"):
        load_benchmark('Gifford2022.MT-temporal_rsa')
    with pytest.raises(RealnetError, match='takes no shen2019 option'):
        load_benchmark('Gifford2022.IT-temporal_rsa', shen2019='x')


@pytest.fixture(scope='module')
def scores(insilico, aligned):
    """V2 time courses of the starting CORnet-S and of the ReAlnet trained on subject 1: whole images
    and correlation RDMs. The in-silico set has 20 repetitions an image (4 pseudo-trials for
    decoding, too few for a stable planted effect; decoding RDMs are tested in test_decoding.py)."""
    release, base, _ = insilico
    _, summary = aligned
    result = {}
    for name, weights in (('base', base), ('aligned', summary['best_checkpoint'])):
        model = load_model('realnet-s01', weights=weights, batch_size=30, image_size=SIZE)
        result[name] = load_benchmark('Gifford2022.V2-temporal_rsa', things_eeg2=release, method='correlation',
                                      screen='whole')(model)
    return result


def test_score_carries_raw_ceiling_and_time_courses(scores):
    score = scores['aligned']
    course = score.attrs['time_course']
    assert course.dims == ('subject', 'time_bin') and course.shape == (10, 100)
    assert list(course['subject'].values) == [f'sub-{s:02d}' for s in range(1, 11)]
    window = (course['time_bin'].values >= 0.05) & (course['time_bin'].values < 0.35)
    ceiling = score.attrs['ceiling_time_course']
    assert float(score.attrs['raw']) == pytest.approx(course.values.mean(axis=0)[window].mean())
    assert float(score.attrs['ceiling']) == pytest.approx(ceiling.sel(bound='lower').values[window].mean())
    assert float(score) == pytest.approx(float(score.attrs['raw']) / float(score.attrs['ceiling']))
    assert (ceiling.sel(bound='lower') <= ceiling.sel(bound='upper') + 1e-9).all()
    # before stimulus onset the EEG carries no image information: no similarity, no ceiling
    assert abs(course.values[:, :15].mean()) < 0.05 and ceiling.sel(bound='lower').values[:15].mean() < 0.1


def test_the_aligned_model_beats_its_start_in_the_planted_window(scores):
    aligned, base = (scores[k].attrs['time_course'] for k in ('aligned', 'base'))
    times = aligned['time_bin'].values
    assert float(scores['aligned']) > float(scores['base']) + 0.04  # measured: 0.41 vs 0.35 (IT: 0.28 vs 0.24)
    result = cluster_test(aligned.values, base.values, seed=0)
    found = times[result['significant']]
    # the in-silico EEG carries image information from about 40 to 300 ms (peaks at 90 and 170 ms)
    assert len(found) >= 5 and found.min() >= 0.03 and found.max() <= 0.32, found
    assert not cluster_test(aligned.values, aligned.values.copy())['significant'].any()


def test_score_command_writes_the_time_courses(insilico, aligned, tmp_path, capsys):
    release, _, _ = insilico
    _, summary = aligned
    out = tmp_path / 'score.json'
    assert cli.main(['score', '--model', 'realnet-s01', '--weights', summary['best_checkpoint'], '--benchmark',
                     'Gifford2022.V4-temporal_rsa', '--things-eeg2', str(release), '--batch-size', '30',
                     '--rdm', 'correlation', '--json', str(out), '-q']) == 0  # plumbing: decoding is tested elsewhere
    record = json.loads(out.read_text())
    assert record['benchmark'] == 'Gifford2022.V4-temporal_rsa' and record['score'] > 0
    assert record['time_course']['dims'] == ['subject', 'time_bin']
    assert len(record['time_course']['values']) == 10 and len(record['time_course']['coords']['time_bin']) == 100
    assert record['ceiling_time_course']['coords']['bound'] == ['lower', 'upper']
    assert record['raw'] / record['ceiling'] == pytest.approx(record['score'])


def test_bad_eeg_data_is_one_line(insilico, aligned, tmp_path, capsys):
    release, _, _ = insilico
    _, summary = aligned
    lonely = tmp_path / 'lonely'
    shutil.copytree(release, lonely, ignore=lambda d, names: [n for n in names if n.startswith('sub-') and n != 'sub-01'])
    other = tmp_path / 'other'
    shutil.copytree(release, other)
    file = other / 'preprocessed_data' / 'sub-02' / 'preprocessed_eeg_test.npy'
    raw = np.load(file, allow_pickle=True).item()
    raw['preprocessed_eeg_data'][3, 0, 0, 0] = np.nan
    np.save(file, raw, allow_pickle=True)
    for folder, message in ((lonely, 'at least two subjects'), (other, 'sub-02.*NaN'), (tmp_path / 'none', 'no such folder')):
        code = cli.main(['score', '--model', 'realnet-s01', '--weights', summary['best_checkpoint'], '--benchmark',
                         'Gifford2022.IT-temporal_rsa', '--things-eeg2', str(folder), '-q'])
        error = capsys.readouterr().err
        assert code == 2 and error.count('\n') == 1, error
        assert re.search(message, error), error


def test_report_draws_both_models_and_marks_the_window(insilico, aligned, scores, tmp_path, capsys):
    benchmark = load_benchmark('Gifford2022.V2-temporal_rsa')
    records = [ScoreRecord.from_score(score, name, benchmark.identifier, benchmark).to_json()
               for name, score in scores.items()]
    records = [json.loads(json.dumps(r)) for r in records]  # as read back from --json files
    files = []
    for record in records:
        files.append(tmp_path / f'{record["model"]}.json')
        files[-1].write_text(json.dumps(record))
    out = tmp_path / 'figure.png'
    assert cli.main(['report', '--scores', *map(str, files), '--out', str(out), '--pair', 'aligned', 'base']) == 0
    printed = capsys.readouterr().out
    assert re.search(r'V2: the pair differs at \d+-\d+ ms', printed) and out.stat().st_size > 10_000
    from PIL import Image
    assert Image.open(out).size[0] > 400
    assert cli.main(['report', '--scores', str(tmp_path / 'missing.json'), '--out', str(out)]) == 2


def test_data_found_through_the_environment_and_checked_across_subjects(insilico, tmp_path, monkeypatch):
    from realnet_brainscore.synthetic import Design, write_things_eeg2
    release, _, _ = insilico
    monkeypatch.setenv('REALNET_THINGS_EEG2', str(release))
    reference = load_benchmark('Gifford2022.V1-temporal_rsa', method='correlation').reference()  # shapes only
    assert reference.rdms.shape == (10, 100, 30 * 29 // 2) and len(reference.stimulus_ids) == 30
    mixed = tmp_path / 'mixed'
    write_things_eeg2(mixed, Design(subjects=2, concepts=2, images_per_concept=1, test_images=6, image_size=16))
    other = write_things_eeg2(tmp_path / 'other', Design(subjects=2, concepts=2, images_per_concept=1, test_images=5,
                                                          image_size=16))
    shutil.rmtree(mixed / 'preprocessed_data' / 'sub-02')
    shutil.copytree(other / 'preprocessed_data' / 'sub-02', mixed / 'preprocessed_data' / 'sub-02')
    monkeypatch.setenv('REALNET_THINGS_EEG2', str(mixed))
    with pytest.raises(RealnetError, match='5 EEG conditions but 6 test images'):
        load_benchmark('Gifford2022.V1-temporal_rsa', method='correlation').reference()


@pytest.fixture(scope='module')
def small_release(tmp_path_factory):
    """Two in-silico subjects, 6 test images, and CORnet-S weights: random, and broken (NaN)."""
    import torch
    from factories import random_cornet, write_dicarlolab_checkpoint
    from realnet_brainscore.synthetic import Design, write_things_eeg2
    root = tmp_path_factory.mktemp('small')
    release = write_things_eeg2(root / 'things', Design(subjects=2, concepts=2, images_per_concept=1, test_images=6,
                                                        test_repetitions=8, image_size=16))
    model = random_cornet(0)
    write_dicarlolab_checkpoint(root / 'cornet.pth', model)
    with torch.no_grad():
        model.V1.conv1.weight.fill_(float('nan'))
    write_dicarlolab_checkpoint(root / 'nan.pth', model)
    return release, root / 'cornet.pth', root / 'nan.pth'


def _score_it(release, weights):
    return cli.main(['score', '--model', 'cornet-s', '--weights', str(weights), '--benchmark',
                     'Gifford2022.IT-temporal_rsa', '--things-eeg2', str(release), '--rdm', 'correlation',
                     '--batch-size', '6', '-q'])


@pytest.mark.parametrize('damage, message', [
    (lambda image: image.write_bytes(b''), r'_01s\.jpg: an empty file; replace it with the published image'),
    (lambda image: image.write_bytes(image.read_bytes()[:200]), r'_01s\.jpg: damaged image \(.+\); replace it'),
])
def test_a_damaged_test_image_is_one_line_before_any_work(small_release, tmp_path, capsys, damage, message):
    release, weights, _ = small_release
    copy = tmp_path / 'copy'
    shutil.copytree(release, copy)
    image = sorted((copy / 'image_set' / 'test_images').rglob('*.jpg'))[2]
    damage(image)
    assert _score_it(copy, weights) == 2
    error = capsys.readouterr().err
    assert error.count('\n') == 1 and str(image) in error and re.search(message, error), error


def test_broken_weights_are_named_not_an_rsatoolbox_error(small_release):
    """NaN weights: one line naming the model and region (rsatoolbox said "rdm1 and rdm2 have different
    nan positions"); at 64 px, in-process, to stay cheap: the CLI turns the error into exit status 2."""
    release, weights, broken = small_release
    benchmark = load_benchmark('Gifford2022.IT-temporal_rsa', things_eeg2=release, method='correlation', screen='whole')
    model = load_model('cornet-s', weights=broken, batch_size=6, image_size=SIZE)
    with pytest.raises(RealnetError, match=r'^cornet-s\+\w+: IT activations hold NaN/inf: its weights are probably '
                                           r'broken$'):
        benchmark(model)
    assert np.isfinite(float(benchmark(load_model('cornet-s', weights=weights, batch_size=6, image_size=SIZE))))
