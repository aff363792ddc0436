"""Statistics on planted data with known answers, and figures that leave matplotlib's backend alone."""
import subprocess
import sys

import numpy as np
import pytest
from scipy.stats import ttest_1samp, ttest_rel

from realnet_brainscore.records import LabelledArray, ScoreRecord
from realnet_brainscore.statistics import (cluster_test, compare_roi_scores, compare_time_courses, paired_p,
                                           time_courses)

TIMES = np.round(np.arange(0, 0.3, 0.01), 2)


def test_paired_p_is_scipys():
    scores = {name: ScoreRecord(name, 'b', score) for name, score in
              (('base', 0.50), ('a', 0.61), ('b', 0.55), ('c', 0.58))}
    assert paired_p(scores, 'base', ['a', 'b', 'c']) == ttest_1samp([0.61 - 0.5, 0.55 - 0.5, 0.58 - 0.5], 0).pvalue
    raw = {name: LabelledArray(np.array(values), ('subject',)) for name, values in
           (('base', [0.2, 0.3, 0.25, 0.4]), ('a', [0.3, 0.32, 0.3, 0.5]))}
    scores = {name: ScoreRecord(name, 'b', 0.5, raw=raw[name]) for name in raw}
    assert paired_p(scores, 'base', ['a']) == ttest_rel([0.3, 0.32, 0.3, 0.5], [0.2, 0.3, 0.25, 0.4]).pvalue
    assert np.isnan(paired_p({name: ScoreRecord(name, 'b', 0.5, raw=0.3) for name in raw}, 'base', ['a']))


def test_cluster_test_finds_a_planted_window():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(10, 60))
    b = a + rng.normal(scale=0.5, size=(10, 60))
    a[:, 20:35] += 1.0
    result = cluster_test(a, b, seed=1)
    found = np.flatnonzero(result['significant'])
    assert found.min() >= 18 and found.max() <= 37 and len(found) >= 10


def test_cluster_test_false_positive_rate_and_identical_models():
    rng = np.random.default_rng(0)
    hits = 0
    for seed in range(40):
        rng = np.random.default_rng(100 + seed)
        base = rng.normal(size=(10, 40))
        a, b = base + rng.normal(size=(10, 40)), base + rng.normal(size=(10, 40))
        hits += cluster_test(a, b, n_permutations=256, seed=seed)['significant'].any()
    assert hits / 40 <= 0.125  # nominal 0.05
    same = rng.normal(size=(10, 40))
    assert not cluster_test(same, same.copy())['significant'].any()



def eeg_record(model, rho):
    subjects = [f'sub-{s:02d}' for s in range(1, len(rho) + 1)]
    course = LabelledArray(rho, ('subject', 'time_bin'), {'subject': subjects, 'time_bin': TIMES.tolist()})
    ceiling = LabelledArray(np.full((2, len(TIMES)), 0.5), ('bound', 'time_bin'),
                            {'bound': ['lower', 'upper'], 'time_bin': TIMES.tolist()})
    return ScoreRecord(model, 'Gifford2022.IT-temporal_rsa', 0.4, kind='EEG', area='IT', time_course=course,
                       ceiling_time_course=ceiling)


def test_the_clusters_of_a_planted_difference_and_their_mean_difference():
    rng = np.random.default_rng(0)
    base = 0.2 + 0.02 * rng.standard_normal((8, len(TIMES)))
    better = base + 0.005 * rng.standard_normal(base.shape)
    better[:, 10:20] += 0.1  # 100-190 ms
    comparison = compare_time_courses(time_courses([eeg_record('better', better), eeg_record('base', base)]))
    assert comparison.tested == {'IT': ('better', 'base')}
    (cluster,) = comparison.clusters()['IT']
    assert (cluster['start_s'], cluster['stop_s']) == (0.1, 0.19)
    assert cluster['difference'] == pytest.approx((better - base)[:, 10:20].mean())
    assert comparison.lines() == ['IT: the pair differs at 100-190 ms (10 time points in significant clusters)']


def test_roi_scores_in_the_rois_order_against_the_baseline():
    rng = np.random.default_rng(0)
    records = []
    for index, model in enumerate(['cornet-s'] + [f'realnet-s{n:02d}' for n in range(1, 6)]):
        for roi, gain in (('LOC', 0.1), ('V1', 0.0)):
            score = 0.5 + (0 if index == 0 else gain + rng.normal(0, 0.02))
            records.append(ScoreRecord(model, f'Shen2019.{roi}-rsa', score, kind='fMRI', area=roi))
    comparison = compare_roi_scores(records, baseline='cornet-s')
    p = comparison.labelled_p()
    assert list(p) == ['V1', 'LOC'] and p['LOC'] < 0.001 and p['V1'] > 0.05
    assert comparison.lines() == [f'V1: p = {p["V1"]:.3g}', f'LOC: p = {p["LOC"]:.3g}']


def test_importing_and_drawing_leave_the_backend_alone(tmp_path):
    code = ("import matplotlib; matplotlib.use('pdf'); import realnet_brainscore.report, realnet_brainscore.figures\n"
            "from realnet_brainscore.figures import draw_matched_subjects\n"
            f"draw_matched_subjects([dict(model='m', region='IT', own=0.3, others=0.2, baseline_own=0.2, "
            f"baseline_others=0.2)], {str(tmp_path / 'f.png')!r}); print(matplotlib.get_backend())")
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == 'pdf' and (tmp_path / 'f.png').read_bytes().startswith(b'\x89PNG')
