"""The whole evaluation in one command, and the offline demo."""
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from factories import SIZE
from realnet_brainscore import cli, demo, suite
from realnet_brainscore.data.things_eeg2 import load_subject
from realnet_brainscore.demo import run_demo
from realnet_brainscore.synthetic import Design


@pytest.fixture
def offline_behaviour(monkeypatch):
    """A behavioural benchmark no plugin registers: the suite must list it as unavailable, whatever
    the network (Brain-Score's real ones would be downloaded where a network exists)."""
    monkeypatch.setattr(suite, 'BEHAVIOUR', ['Nobody2099public-i2n'])


def test_suite_scores_what_it_can_and_lists_the_rest(insilico, aligned, offline_behaviour, tmp_path, capsys):
    release, _, _ = insilico
    out = tmp_path / 'suite.json'
    code = cli.main(['score', '--model', 'realnet-s01', '--weights', aligned[1]['best_checkpoint'], '--things-eeg2',
                     str(release), '--batch-size', '30', '--json', str(out), '--plot', str(tmp_path / 'figures'), '-q'])
    printed = capsys.readouterr().out
    assert code == 0
    for region in ('V1', 'V2', 'V4', 'IT'):
        assert f'Gifford2022.{region}-temporal_rsa' in printed
    assert printed.count('unavailable: no Shen 2019 data') == 8
    assert "Nobody2099public-i2n" in printed and "unavailable: unknown benchmark" not in printed.split('Nobody')[0]
    results = json.loads(out.read_text())
    assert [r['benchmark'] for r in results if 'record' in r] == [f'Gifford2022.{r}-temporal_rsa'
                                                                  for r in ('V1', 'V2', 'V4', 'IT')]
    assert all(r['unavailable'] for r in results if 'record' not in r)
    assert (tmp_path / 'figures' / 'eeg_time_courses.png').stat().st_size > 10_000


def test_suite_with_nothing_to_run_exits_2(insilico, aligned, offline_behaviour, tmp_path, monkeypatch, capsys):
    empty = tmp_path / 'empty'
    empty.mkdir()
    monkeypatch.setenv('REALNET_THINGS_EEG2', str(empty))
    monkeypatch.delenv('REALNET_SHEN2019', raising=False)
    code = cli.main(['score', '--model', 'realnet-s01', '--weights', aligned[1]['best_checkpoint'], '-q'])
    captured = capsys.readouterr()
    assert code == 2 and captured.out.count('unavailable:') == 4 + 8 + 1
    assert captured.err.strip() == 'brainscore: error: no benchmark could run here (each is listed as unavailable above)'


def handed_over(aligned):
    """A stand-in for the demo's `train`: the demo aligns subject 1 exactly as the `aligned` fixture
    did (a release's subject does not depend on how many subjects it holds; the same baseline weights,
    recipe and seed), which is checked here, and the fixture's run is handed over instead of training
    it a second time."""
    (source, recipe, _), summary = aligned

    def train(demo_source, demo_recipe, runtime, **_):
        assert demo_source.subject == source.subject and demo_source.group == source.group
        assert replace(demo_recipe, backbone_weights=None) == replace(recipe, backbone_weights=None)
        for split in ('training', 'test'):
            ours, theirs = (load_subject(s.things_eeg2, source.subject, split) for s in (demo_source, source))
            np.testing.assert_array_equal(ours.values, theirs.values)
        ours, theirs = ({k.removeprefix('realnet.').removeprefix('module.'): v
                         for k, v in torch.load(r.backbone_weights, weights_only=True)['state_dict'].items()}
                        for r in (demo_recipe, recipe))
        assert ours.keys() == theirs.keys() and all(torch.equal(ours[k], theirs[k]) for k in ours)
        return summary
    return train


@pytest.mark.slow
def test_demo_aligns_and_beats_its_baseline_on_eeg(aligned, tmp_path, monkeypatch):
    monkeypatch.setattr(demo, 'train', handed_over(aligned))
    said = []
    report = run_demo(tmp_path / 'demo', subjects=(1,), epochs=3, say=said.append,
                      design=Design(subjects=4, concepts=20, images_per_concept=5, test_images=30,
                                    test_repetitions=20, image_size=SIZE))
    scores = json.loads((report.parent / 'comparison.json').read_text())['records']
    eeg = [b for b in scores['cornet-s'] if b.endswith('temporal_rsa')]
    assert len(eeg) == 4 and len(scores['realnet-s01']) == 12
    better = [b for b in eeg if scores['realnet-s01'][b]['score'] > scores['cornet-s'][b]['score']]
    assert len(better) >= 3, {b: (scores['realnet-s01'][b]['score'], scores['cornet-s'][b]['score']) for b in eeg}
    # measured before the lean-core refactor (issue 25), on the 2-core CPU; scores must not move. The
    # starting model's scores are the same to 1e-3 on every CPU tried; the trained model's are not:
    # three epochs of training amplify the last bits in which two CPUs' kernels differ (another 2-core
    # machine, torch's AVX2 kernels: 0.3464, 0.5243, 0.4526, 0.4041, 0.3475, 0.6174; up to 0.027 apart)
    pinned = {
        'cornet-s': {
            'Gifford2022.IT-temporal_rsa': 0.2587,
            'Gifford2022.V1-temporal_rsa': 0.5026,
            'Gifford2022.V2-temporal_rsa': 0.3638,
            'Gifford2022.V4-temporal_rsa': 0.2959,
            'Shen2019.HVC-rsa': 0.2757,
            'Shen2019.V1-rsa': 0.6034,
        },
        'realnet-s01': {
            # the paper recipe's two forward passes per step, CORnet-S's second folded into its batch-norm
            # momentum (issue 27; literally run twice: 0.3612, 0.5227, 0.4275, 0.3930, 0.3514, 0.6166)
            'Gifford2022.IT-temporal_rsa': 0.3391,
            'Gifford2022.V1-temporal_rsa': 0.5220,
            'Gifford2022.V2-temporal_rsa': 0.4499,
            'Gifford2022.V4-temporal_rsa': 0.3854,
            'Shen2019.HVC-rsa': 0.3209,
            'Shen2019.V1-rsa': 0.6160,
        },
    }
    tolerance = {'cornet-s': 1e-3, 'realnet-s01': 0.04}
    moved = {(model, benchmark): (round(scores[model][benchmark]['score'], 4), expected)
             for model, benchmarks in pinned.items() for benchmark, expected in benchmarks.items()
             if scores[model][benchmark]['score'] != pytest.approx(expected, abs=tolerance[model])}
    assert not moved, moved
    assert said[-1].endswith(f'the report is {report}')
    assert {p.name for p in report.parent.glob('*.png')} == {'eeg_time_courses.png', 'fmri_rois.png',
                                                             'matched_subjects.png'}
    assert 'Gifford2022.IT-temporal_rsa' in report.read_text() and 'in-silico' in report.read_text()
