"""Matched scoring of personal models (issue 27, item 3): the paper compares ReAlnet k with subject
k's EEG RDMs only (RSA.ipynb, cells 4:143-149); `score --matched` and `compare --paper` do so, on
in-silico THINGS-EEG2 subjects with correlation RDMs (seconds, not the decoding's minutes)."""
import json

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr

from factories import FixedFeatures, random_cornet, write_sized_checkpoint
from realnet_brainscore import RealnetError, cli, load_benchmark, score_store
from realnet_brainscore.data import things_eeg2
from realnet_brainscore.records import ScoreRecord, time_mask
from realnet_brainscore.synthetic import Design, write_things_eeg2

EEG = 'Gifford2022.IT-temporal_rsa'
SIZE = 32
WINDOW = (0.05, 0.35)


@pytest.fixture(scope='module')
def release(tmp_path_factory):
    """Four in-silico subjects, 12 test images × 20 repetitions, and three random CORnet-S files."""
    root = tmp_path_factory.mktemp('matched')
    things = write_things_eeg2(root / 'things', Design(subjects=4, concepts=2, images_per_concept=1, test_images=12,
                                                       test_repetitions=20, image_size=SIZE))
    weights = {}
    for name, seed in (('cornet-s', 1), ('realnet-s01', 2), ('realnet-s02', 3)):
        weights[name] = root / f'{name}.pth'
        write_sized_checkpoint(weights[name], random_cornet(seed), SIZE)
    return things, weights


def averaged(things, subject: int):
    """Stimulus ids, times and the repetition-averaged standardised EEG (images × channels × times)."""
    ids, _, times, trials = things_eeg2.trials(things_eeg2.load_subject(things, subject, split='test'))
    return ids, np.asarray(times, dtype=float), things_eeg2.standardise(trials).mean(axis=1)


def benchmark(things, **options):
    return load_benchmark(EEG, things_eeg2=things, method='correlation', screen='whole', **options)


def test_planted_subject_scores_highest_matched_and_equals_a_hand_computation(release):
    """A model whose IT features are subject 2's repetition-averaged EEG at 200 ms: its RDM is that
    subject's correlation RDM there (ρ = 1 at 200 ms on subject 2 only)."""
    things, _ = release
    ids, times, eeg = averaged(things, 2)
    planted = int(np.argmin(abs(times - 0.2)))
    model = FixedFeatures(dict(zip(ids, eeg[:, :, planted])))
    matched = {k: benchmark(things, matched_subject=k)(model) for k in (1, 2, 3, 4)}
    every = benchmark(things)(model)
    raw = {k: float(s.attrs['raw']) for k, s in matched.items()}
    assert all(raw[2] > raw[k] + 0.03 for k in (1, 3, 4)), raw  # measured: 0.246 against 0.182-0.194
    assert all(float(matched[2]) > float(matched[k]) for k in (1, 3, 4))
    course = matched[2].attrs['time_course']
    assert list(course['subject'].values) == ['sub-02'] and course.values[0, planted] == pytest.approx(1, abs=1e-6)
    assert all(matched[k].attrs['time_course'].values[0, planted] < 0.9 for k in (1, 3, 4))
    # by hand: Spearman ρ of 1 - Pearson r of the features with subject 2's correlation RDM at each time point
    rdm = pdist(eeg[:, :, planted], 'correlation')
    rho = np.array([spearmanr(rdm, pdist(eeg[:, :, t], 'correlation'))[0] for t in range(len(times))])
    np.testing.assert_allclose(course.values[0], rho, atol=1e-4)
    assert raw[2] == pytest.approx(rho[time_mask(times, *WINDOW)].mean(), abs=1e-4)
    # the ceiling is all four subjects' (one subject has no leave-one-subject-out bound): the same as unmatched
    assert float(matched[2].attrs['ceiling']) == pytest.approx(float(every.attrs['ceiling']))
    assert float(matched[2]) == pytest.approx(raw[2] / float(every.attrs['ceiling']))
    # the all-subject score averages the same per-subject ρ over every subject
    np.testing.assert_allclose(every.attrs['time_course'].values[1], rho, atol=1e-4)
    assert float(every.attrs['raw']) == pytest.approx(np.mean(list(raw.values())), abs=1e-6)
    assert matched[2].attrs['matched_subject'] == 'sub-02' and 'matched_subject' not in every.attrs


def test_settings_and_records_tell_matched_from_every_subject(release):
    things, _ = release
    assert 'matched_subject' not in benchmark(things).settings()  # kept scores of before stay reusable
    assert benchmark(things, matched_subject=3).settings()['matched_subject'] == 'sub-03'
    with pytest.raises(RealnetError, match=r'^sub-07 is not in the EEG data \(it holds sub-01, sub-02, sub-03, '):
        benchmark(things, matched_subject=7)(FixedFeatures({}))
    with pytest.raises(RealnetError, match='unknown THINGS-EEG2 subject 11'):
        benchmark(things, matched_subject=11)(FixedFeatures({}))


def score(release, tmp_path, name, *extra):
    things, weights = release
    out = tmp_path / f'{name}-{len(extra)}.json'
    code = cli.main(['score', '--model', name, '--weights', str(weights.get(name, weights['realnet-s01'])),
                     '--benchmark', EEG, '--things-eeg2', str(things), '--rdm', 'correlation', '--screen', 'whole',
                     '--batch-size', '12', '--json', str(out), '-q', *extra])
    return code, out


def test_score_matched_writes_the_subject_into_the_record(release, tmp_path, capsys):
    code, out = score(release, tmp_path, 'realnet-s02', '--matched')
    printed = capsys.readouterr()
    assert code == 0, printed.err
    assert f'on {EEG} (its own subject sub-02 only): ' in printed.out
    record = ScoreRecord.from_json(json.loads(out.read_text()))
    assert record.matched_subject == 'sub-02' and record.subjects == ['sub-02']
    assert record.raw / record.ceiling == pytest.approx(record.score)
    _, plain = score(release, tmp_path, 'realnet-s02')
    every = ScoreRecord.from_json(json.loads(plain.read_text()))
    assert every.matched_subject is None and len(every.subjects) == 4
    np.testing.assert_allclose(record.time_course.values[0], every.time_course.values[1], atol=1e-6)
    # a record that says it is matched but holds other subjects is refused
    damaged = {**json.loads(out.read_text()), 'matched_subject': 'sub-01'}
    with pytest.raises(RealnetError, match='matched with "sub-01" whose time_course holds other subjects'):
        ScoreRecord.from_json(damaged)


@pytest.mark.parametrize('name, extra, message', [
    ('cornet-s', [], '--matched scores a personal EEG model (a name ending -sNN, e.g. realnet-s01) on its own '
                     'subject; cornet-s was aligned with no THINGS-EEG2 subject'),
    ('resnet50-fmri-s01', [], 'resnet50-fmri-s01 was aligned with no THINGS-EEG2 subject'),
    ('realnet-s01', ['--benchmark', 'Shen2019.V1-rsa'], '--matched concerns the EEG benchmarks'),
    ('realnet-s12', [], 'unknown THINGS-EEG2 subject 12'),
])
def test_matched_refuses_a_model_of_no_subject_in_one_line(name, extra, message, tmp_path, capsys):
    out = tmp_path / 'out.json'
    assert cli.main(['score', '--model', name, '--matched', '--json', str(out), '-q', *extra]) == 2
    error = capsys.readouterr().err
    assert error.count('\n') == 1 and message in error, error
    assert not out.exists()


def test_a_subject_the_data_lack_is_one_line(release, tmp_path, capsys):
    code, out = score(release, tmp_path, 'realnet-s09', '--matched')
    error = capsys.readouterr().err
    assert code == 2 and error.count('\n') == 1 and 'sub-09 is not in the EEG data' in error, error
    assert not out.exists()


def compare(release, out, *extra):
    things, weights = release
    return cli.main(['compare', '--models', *(f'{n}={p}' for n, p in weights.items()), '--things-eeg2', str(things),
                     '--benchmarks', EEG, '--out', str(out), '--rdm', 'correlation', '--batch-size', '12', '-q',
                     *extra])


def test_compare_paper_scores_two_personal_models_on_their_own_subjects(release, tmp_path):
    out = tmp_path / 'compare'
    assert compare(release, out, '--paper') == 0
    saved = json.loads((out / 'comparison.json').read_text())
    records = {name: ScoreRecord.from_json(r[EEG]) for name, r in saved['records'].items()}
    assert records['cornet-s'].matched_subject is None and len(records['cornet-s'].subjects) == 4
    assert [(records[n].matched_subject, records[n].subjects) for n in ('realnet-s01', 'realnet-s02')] == [
        ('sub-01', ['sub-01']), ('sub-02', ['sub-02'])]
    assert saved['settings']['matched_subjects'] == {'realnet-s01': 'sub-01', 'realnet-s02': 'sub-02'}
    # Figure 1B pairs each with its own subject, the baseline on the same subjects, from two models on
    assert saved['statistics']['eeg']['pair'] == ['ReAlnets on own subject (n=2)', 'cornet-s on the same subjects']
    text = (out / 'report.md').read_text()
    assert 'compared with their own subject only (as the paper): realnet-s01 (sub-01), realnet-s02 (sub-02)' in text
    assert 'With 2 subject(s) the paired cluster test is not run (it needs 3)' in text
    # matched and all-subject scores are never confused: a kept score serves only a run of its own kind
    every = {'screen': 'whole', 'method': 'correlation', 'eeg_form': 'raw'}  # --paper with the OSF files: raw
    for name, options, reused in (('realnet-s01', every, False), ('cornet-s', every, True),
                                  ('realnet-s01', score_store.model_options('realnet-s01', every, True), True),
                                  ('cornet-s', score_store.model_options('cornet-s', every, True), True)):
        path = out / 'scores' / f'{name}.json'
        kept = json.loads(path.read_text())
        settings = score_store.benchmark_settings([EEG], options)
        assert bool(score_store.kept_records(path, kept['model'], kept['data'], settings)) == reused, (name, options)


def planted_record(model, subjects, rho, matched=None):
    """A temporal RSA record as `score --json` writes it: ``rho`` (subjects × 60 times) on ``subjects``."""
    times = np.round(np.arange(-0.1, 0.5, 0.01), 2).tolist()
    data = {'model': model, 'benchmark': EEG, 'kind': 'EEG', 'area': 'IT', 'score': float(rho.mean()),
            'window': list(WINDOW), 'ceiling_time_course': {
                'dims': ['bound', 'time_bin'], 'values': np.full((2, 60), 0.5).tolist(),
                'coords': {'bound': ['lower', 'upper'], 'time_bin': times}},
            'time_course': {'dims': ['subject', 'time_bin'], 'values': rho.tolist(),
                            'coords': {'subject': subjects, 'time_bin': times}}}
    return ScoreRecord.from_json({**data, **({'matched_subject': matched} if matched else {})})


def test_figure_1b_pairs_one_matched_model_with_its_subject_and_leaves_it_out_without_a_baseline():
    from realnet_brainscore.statistics import eeg_view, matched_subject_rows
    rng = np.random.default_rng(0)
    subjects = [f'sub-{k:02d}' for k in range(1, 5)]
    base = rng.standard_normal((4, 60))
    own = rng.standard_normal((1, 60))
    personal = 'resnet50-eeg-s03+3fa2c1d0'  # any backbone, a user's weights
    records = {'cornet-s': {EEG: planted_record('cornet-s', subjects, base)},
               personal: {EEG: planted_record(personal, ['sub-03'], own, 'sub-03')}}
    (panel,), pair = eeg_view(records, 'cornet-s')
    assert pair == ('ReAlnets on own subject (n=1)', 'cornet-s on the same subjects') and panel.subjects == ['sub-03']
    np.testing.assert_array_equal(panel.courses[pair[0]], own)
    np.testing.assert_array_equal(panel.courses[pair[1]], base[2:3])
    assert matched_subject_rows(records, 'cornet-s') == []  # no other subjects to contrast its own with
    # without the baseline's time courses the matched score is not drawn over subjects it was not scored on
    alone = {'resnet50': {EEG: records['cornet-s'][EEG].named('resnet50')}, **records}
    del alone['cornet-s']
    panels, pair = eeg_view(alone, 'cornet-s')
    assert pair is None and [list(p.courses) for p in panels] == [['resnet50']]
