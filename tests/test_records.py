"""Score records: made from a Brain-Score Score with the benchmark's kind, JSON in and out, bad
JSON refused in one line; and the one loader of ours and Brain-Score's benchmarks."""
import json

import numpy as np
import pytest
import xarray as xr
from brainscore_core.benchmarks import BenchmarkBase
from brainscore_core.metrics import Score

from realnet_brainscore import RealnetError, load_benchmark, plugin
from realnet_brainscore.records import LabelledArray, ScoreRecord, benchmark_kind, read_record, time_mask
from realnet_brainscore.statistics import time_courses
from realnet_brainscore.benchmarks.gifford2022_temporal_rsa.benchmark import EEGReference, TemporalRSA, temporal_score
from realnet_brainscore.benchmarks.shen2019_rsa.benchmark import ShenRSA

TIMES = np.array([-0.1, 0.0, 0.1, 0.2, 0.3])
RHO = np.array([[0.0, 0.1, 0.4, 0.3, 0.0], [0.1, 0.0, 0.2, 0.5, 0.1], [0.0, 0.2, 0.3, 0.1, 0.0]])
CEILING = np.array([[0.1, 0.2, 0.5, 0.4, 0.1], [0.2, 0.3, 0.7, 0.6, 0.2]])


def eeg_score() -> Score:
    """A temporal RSA Score of known values: the window 0-0.2 s holds the time points 0 and 0.1 s."""
    reference = EEGReference([], [], ['sub-01', 'sub-02', 'sub-03'], TIMES, np.zeros((3, 5, 3)), CEILING)
    score = temporal_score(RHO, reference, (0.0, 0.2))
    score.attrs.update(screen='whole', rdm_method='correlation')
    return score


def test_a_temporal_rsa_score_round_trips_through_json():
    record = ScoreRecord.from_score(eeg_score(), 'm', 'Gifford2022.IT-temporal_rsa', TemporalRSA('IT'))
    raw, ceiling = RHO.mean(axis=0)[1:3].mean(), CEILING[0, 1:3].mean()  # (0.1 + 0.3) / 2 and 0.35
    assert (record.kind, record.area, record.window) == ('EEG', 'IT', (0.0, 0.2))
    assert record.raw == pytest.approx(raw) and record.ceiling == pytest.approx(ceiling)
    assert record.score == pytest.approx(raw / ceiling)
    assert record.subjects == ['sub-01', 'sub-02', 'sub-03'] and np.array_equal(record.times, TIMES)
    assert np.array_equal(record.time_course.values, RHO) and record.ceiling_time_course.dims == ('bound', 'time_bin')
    text = json.loads(json.dumps(record.to_json()))  # as `score --json` writes it and compare keeps it
    assert list(text) == ['model', 'benchmark', 'kind', 'area', 'score', 'raw', 'ceiling', 'time_course',
                          'ceiling_time_course', 'window', 'screen', 'rdm_method']
    assert text['time_course'] == {'dims': ['subject', 'time_bin'],
                                   'coords': {'subject': ['sub-01', 'sub-02', 'sub-03'], 'time_bin': TIMES.tolist()},
                                   'values': RHO.tolist()}
    assert ScoreRecord.from_json(text).to_json() == text
    (cut,) = time_courses([record], (0.0, 0.1))  # first and last time point
    assert np.array_equal(cut.times, [0.0, 0.1]) and np.array_equal(cut.ceiling, CEILING[:, 1:3])
    assert np.array_equal(cut.courses['m'], RHO[:, 1:3])


def test_an_roi_score_keeps_its_subjects_and_model_region():
    score = Score(0.5)
    subjects = {'subject': ['sub-01', 'sub-02']}
    score.attrs['raw'] = xr.DataArray([0.2, 0.3], dims='subject', coords=subjects)
    score.attrs['region'], score.attrs['other'] = 'IT', np.array([1, 2])
    record = ScoreRecord.from_score(score, 'm', 'Shen2019.LOC-rsa', ShenRSA('LOC'))
    assert (record.kind, record.area, record.region, record.attrs) == ('fMRI', 'LOC', 'IT', {'other': [1.0, 2.0]})
    assert isinstance(record.raw, LabelledArray) and record.raw.subjects == ['sub-01', 'sub-02']
    assert ScoreRecord.from_json(json.loads(json.dumps(record.to_json()))).to_json() == record.to_json()


class _Stub(BenchmarkBase):
    def __init__(self, parent):
        super().__init__(identifier='Stub', ceiling=None, version=1, parent=parent)


@pytest.mark.parametrize('benchmark, kind', [
    (TemporalRSA('V4'), ('EEG', 'V4')), (ShenRSA('FFA'), ('fMRI', 'FFA')),
    (_Stub('behavior'), ('behaviour', None)), (_Stub('Geirhos2021'), ('behaviour', None)),  # error consistency's
    (_Stub('IT'), ('neural', 'IT')),  # MajajHong2015public.IT-pls's
])
def test_the_kind_is_the_benchmarks(benchmark, kind):
    assert benchmark_kind(benchmark) == kind


def test_a_file_from_before_kinds_gets_our_benchmarks_kind(tmp_path):
    text = ScoreRecord.from_score(eeg_score(), 'm', 'Gifford2022.IT-temporal_rsa', TemporalRSA('IT')).to_json()
    del text['kind'], text['area']
    assert (ScoreRecord.from_json(text).kind, ScoreRecord.from_json(text).area) == ('EEG', 'IT')
    del text['time_course']  # an EEG record is checked as one
    with pytest.raises(RealnetError, match='^a temporal RSA score without time_course$'):
        ScoreRecord.from_json(text)


@pytest.mark.parametrize('text, problem', [
    ({'model': 'm', 'benchmark': 'b', 'score': 'high'}, 'score is "high", not a number'),
    ({'model': 'm', 'benchmark': 'b', 'score': 0.1, 'kind': 'MEG'}, 'kind is "MEG", not one of EEG, fMRI, neural'),
    ({'model': 'm', 'benchmark': 'b', 'score': 0.1, 'ceiling': {'dims': ['subject'], 'values': ['a']}},
     'ceiling values are not an array of numbers'),
    ({'model': 'm', 'benchmark': 'b', 'score': 0.1,
      'ceiling': {'dims': ['subject'], 'coords': {'subject': ['s1']}, 'values': ['a']}},
     'ceiling values are not an array of numbers'),
])
def test_bad_json_is_refused_in_one_line(text, problem, tmp_path):
    with pytest.raises(RealnetError, match=f'^{problem}'):
        ScoreRecord.from_json(text)
    path = tmp_path / 'bad.json'
    path.write_text(json.dumps(text))
    with pytest.raises(RealnetError) as refused:
        read_record(path)
    assert str(refused.value).startswith(f'{path}: not the score of one benchmark as `score --benchmark B --json` '
                                         f'writes it: {problem}') and '\n' not in str(refused.value)


def test_windows_leave_out_their_stop_and_ranges_keep_their_last_point():
    times = np.array([0.0, 0.1, 0.2, 0.30000000000000004])
    assert time_mask(times, 0.1, 0.3).tolist() == [False, True, True, False]
    assert time_mask(times, 0.1, 0.3, last=True).tolist() == [False, True, True, True]


def test_one_loader_for_ours_and_brainscores(monkeypatch):
    import brainscore_vision
    loaded = []
    monkeypatch.setattr(brainscore_vision, 'load_benchmark', lambda identifier: loaded.append(identifier) or 'theirs')
    assert load_benchmark is plugin.load_benchmark
    assert load_benchmark('MajajHong2015public.IT-pls') == 'theirs' and loaded == ['MajajHong2015public.IT-pls']
    assert load_benchmark('MajajHong2015public.IT-pls', strict=False, screen='whole') == 'theirs'
    with pytest.raises(RealnetError, match="Brain-Score's own benchmark: it takes no screen option"):
        load_benchmark('MajajHong2015public.IT-pls', screen='whole')
    assert load_benchmark('Shen2019.V1-rsa', screen='whole').screen == 'whole' and len(loaded) == 2
