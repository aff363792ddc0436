"""The bootstrap over subjects and images (realnet_brainscore.inference): the same sample values as
rsatoolbox's eval_dual_bootstrap on the same draws, nominal coverage of a planted value, and the
interval carried by the benchmarks' scores, their records (JSON both ways) and compare's report."""
import json
import re
from types import SimpleNamespace

import numpy as np
import pytest
from brainscore_core.metrics import Score
from scipy.spatial.distance import pdist
from scipy.stats import rankdata, spearmanr

from realnet_brainscore import RealnetError
from realnet_brainscore.inference import check_samples, dual_bootstrap, percentile_interval, score_interval
from realnet_brainscore.records import ScoreRecord
from realnet_brainscore.report import write_report
from realnet_brainscore.suite import SuiteResult


def test_every_sample_equals_rsatoolbox_eval_dual_bootstrap_on_the_same_draws(monkeypatch):
    """rsatoolbox 0.2.0's dual bootstrap ('both' samples, no cross-validation), its draws recorded:
    each sample's mean Spearman ρ is ours on those draws, duplicated images and subjects, ties (one
    subject's RDM is rounded) and self-pairs dropped included."""
    import rsatoolbox
    from rsatoolbox.inference import evaluate
    rng = np.random.default_rng(3)
    n_images, n_subjects = 9, 5
    model = rng.random(n_images * (n_images - 1) // 2)
    rdms = model + rng.standard_normal((n_subjects, len(model)))
    rdms[2] = np.round(rdms[2], 1)
    draws, original = [], evaluate.bootstrap_sample

    def recorded(*args, **kwargs):
        sample, rdm_idx, pattern_idx = original(*args, **kwargs)
        draws.append((np.asarray(rdm_idx), np.asarray(pattern_idx)))
        return sample, rdm_idx, pattern_idx
    monkeypatch.setattr(evaluate, 'bootstrap_sample', recorded)
    np.random.seed(0)
    result = evaluate.eval_dual_bootstrap(rsatoolbox.model.ModelFixed('m', model), rsatoolbox.rdm.RDMs(rdms),
                                          method='spearman', N=40)
    theirs = result.evaluations[:, 0, 0, 0, 0]  # the samples over both subjects and images
    ours = dual_bootstrap(model, rdms, draws=draws)
    assert len(draws) == 40 and any(len(set(images)) < n_images for _, images in draws)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)


def test_a_sample_equals_spearman_on_the_drawn_pairs_with_time_points():
    """subjects × times RDMs: a sample's value per time point is the mean over the drawn subjects of
    Spearman ρ on every pair of distinct drawn copies (scipy's rankdata, ties averaged)."""
    rng = np.random.default_rng(4)
    n = 10
    model = np.round(rng.random(n * (n - 1) // 2), 1)  # ties in the model too
    rdms = rng.random((3, 2, len(model)))
    subjects, images = np.array([0, 0, 2]), rng.integers(n, size=n)
    matrix = np.zeros((n, n))
    a, b = np.triu_indices(len(images), 1)
    keep = images[a] != images[b]

    def drawn(vector):
        matrix[np.triu_indices(n, 1)] = vector
        full = matrix + matrix.T
        return full[images[a], images[b]][keep]

    def rho(x, y):
        x, y = rankdata(x) - rankdata(x).mean(), rankdata(y) - rankdata(y).mean()
        return x @ y / np.sqrt((x @ x) * (y @ y))
    expected = [np.mean([rho(drawn(model), drawn(rdms[s, t])) for s in subjects]) for t in range(2)]
    np.testing.assert_allclose(dual_bootstrap(model, rdms, draws=[(subjects, images)])[0], expected, atol=1e-12)


POPULATION = np.random.default_rng(0).standard_normal((2000, 6))  # images' true features


def planted_set(rng, n_images=20, n_subjects=8):
    """The population RDM on images drawn from the population, and subjects' RDMs: it plus noise
    whose level differs between subjects."""
    truth = pdist(POPULATION[rng.choice(len(POPULATION), n_images, replace=False)])
    noise = rng.uniform(0.5, 2.0, size=(n_subjects, 1)) * rng.standard_normal((n_subjects, len(truth)))
    return truth, truth + noise


def test_the_interval_covers_the_planted_value_at_the_nominal_rate():
    """The planted value: the expected ρ of a new subject on new images (Monte Carlo over 4000
    draws). 80 in-silico studies of 20 images × 8 subjects; 95 % intervals from 500 samples."""
    rng = np.random.default_rng(1)
    planted = np.mean([spearmanr(*planted_set(rng, n_subjects=1)[::-1], axis=1)[0] for _ in range(4000)])
    covered = []
    for repetition in range(80):
        low, high = percentile_interval(dual_bootstrap(*planted_set(rng), samples=500, seed=repetition))
        covered.append(low <= planted <= high)
    assert 0.85 <= np.mean(covered) <= 0.99


def test_score_interval_is_the_raw_interval_over_the_ceiling_and_seeded():
    rng = np.random.default_rng(2)
    truth, rdms = planted_set(rng)
    course = np.repeat(rdms[:, None], 3, axis=1)  # three identical time points: their mean is one
    window = np.array([True, True, False])
    found = score_interval(truth, course, ceiling=0.5, window=window, samples=200, seed=7)
    assert found == score_interval(truth, course, ceiling=0.5, window=window, samples=200, seed=7)
    assert found['raw_interval'] == pytest.approx(percentile_interval(dual_bootstrap(truth, rdms, 200, 7)))
    assert found['interval'] == pytest.approx([v / 0.5 for v in found['raw_interval']])
    assert found['raw_interval'][0] < found['raw_interval'][1]
    assert '200 samples' in found['interval_method']


@pytest.mark.parametrize('samples', [-1, 1.5, True, '1000', 10**6])
def test_a_bad_number_of_samples_is_refused(samples):
    with pytest.raises(RealnetError, match='bootstrap'):
        check_samples(samples)


def interval_record(name='realnet-s01', shift=0.0):
    """An fMRI score as the Shen benchmark makes it, with the interval attributes, read as a record."""
    rng = np.random.default_rng(5)
    truth, rdms = planted_set(rng)
    score = Score(0.8 + shift)
    score.attrs.update(score_interval(truth, rdms, ceiling=0.75, samples=100), screen='brainscore')
    return ScoreRecord.from_score(score, name, 'Shen2019.V1-rsa', SimpleNamespace(kind='fMRI', parent='V1'))


def test_records_carry_the_interval_through_json():
    record = interval_record()
    assert isinstance(record.interval, tuple) and record.interval[0] < record.interval[1]
    back = ScoreRecord.from_json(json.loads(json.dumps(record.to_json())))
    assert back.interval == record.interval and back.raw_interval == record.raw_interval
    assert back.attrs['interval_method'] == record.attrs['interval_method']
    broken = {**record.to_json(), 'interval': [0.1, 'high']}
    with pytest.raises(RealnetError, match=r'interval is .*not \[low, high\]'):
        ScoreRecord.from_json(broken)


def test_compare_reports_the_interval_beside_the_paired_tests(tmp_path):
    results = {name: [SuiteResult('Shen2019.V1-rsa', interval_record(name, shift))]
               for name, shift in (('cornet-s', 0.0), ('realnet-s01', 0.05))}
    report = write_report(tmp_path, results, 'cornet-s').read_text()
    saved = json.loads((tmp_path / 'comparison.json').read_text())
    entry = saved['statistics']['intervals']['Shen2019.V1-rsa']['realnet-s01']
    assert entry['interval'] == list(results['realnet-s01'][0].record.interval)
    assert 'fmri_p' in saved['statistics'] and '## Intervals over subjects and images' in report
    low, high = entry['interval']
    assert f'| Shen2019.V1-rsa | realnet-s01 | 0.850 | {low:.3f} … {high:.3f} |' in report


@pytest.fixture(scope='module')
def releases(tmp_path_factory):
    """A small in-silico THINGS-EEG2 release (3 subjects, 8 test images) and Shen 2019 folder."""
    from realnet_brainscore.synthetic import Design, ShenDesign, write_shen2019, write_things_eeg2
    root = tmp_path_factory.mktemp('bootstrap')
    eeg = write_things_eeg2(root / 'things', Design(subjects=3, concepts=2, images_per_concept=1, test_images=8,
                                                    test_repetitions=8, image_size=16))
    return eeg, write_shen2019(root / 'shen', ShenDesign(image_size=16))


def planted_model(monkeypatch, benchmark, rdm):
    """The benchmark's model RDM is ``rdm``, whatever the candidate (no network is run)."""
    import sys
    monkeypatch.setattr(sys.modules[type(benchmark).__module__], 'region_rdm', lambda *args, **kwargs: rdm)


@pytest.mark.parametrize('identifier', ['Gifford2022.IT-temporal_rsa', 'Shen2019.LOC-rsa'])
def test_the_benchmarks_scores_carry_the_interval_of_the_score(releases, monkeypatch, identifier):
    """The model RDM is the subjects' mean RDM: the score record carries the interval of the raw
    score (EEG: the window mean over time points) around raw, and that over the full-data ceiling."""
    from realnet_brainscore import load_benchmark
    eeg = identifier.startswith('Gifford')
    data = {'things_eeg2': releases[0], 'method': 'correlation'} if eeg else {'shen2019': releases[1]}
    benchmark = load_benchmark(identifier, bootstrap=300, **data)
    reference = benchmark.reference()
    window = reference.in_window(benchmark.window) if eeg else None
    model = reference.rdms[:, window].mean(axis=(0, 1)) if eeg else reference.rdms.mean(axis=0)
    planted_model(monkeypatch, benchmark, model)
    record = ScoreRecord.from_score(benchmark(None), 'planted', identifier, benchmark)
    ceiling = float(np.mean(record.ceiling.values) if not eeg else record.ceiling)
    expected = score_interval(model, reference.rdms, ceiling, window, samples=300)
    assert record.raw_interval == pytest.approx(expected['raw_interval'])
    assert record.interval == pytest.approx(expected['interval'])
    raw = float(np.mean(record.raw.values) if not eeg else record.raw)
    assert record.raw_interval[0] < raw < record.raw_interval[1]
    assert '300 samples' in record.attrs['interval_method'] and benchmark.settings()['bootstrap'] == 300
    benchmark.bootstrap = 0
    assert 'interval' not in benchmark(None).attrs


@pytest.mark.parametrize('value, message', [('x', "expected a whole number, 0 or more, got 'x'"),
                                            ('1000000', '--bootstrap is .1000000.: give a number of samples')])
def test_the_command_line_refuses_a_bad_bootstrap_in_one_line(value, message, tmp_path, capsys):
    from realnet_brainscore import cli
    try:  # argparse's refusals exit from inside
        code = cli.main(['score', '--model', 'cornet-s', '--benchmark', 'Shen2019.V1-rsa', '--shen2019', str(tmp_path),
                         '--bootstrap', value, '-q'])
    except SystemExit as exit:
        code = exit.code
    error = capsys.readouterr().err
    assert code == 2 and error.count('\n') == 1 and re.search(message, error), error


def test_the_command_line_passes_the_bootstrap_on_even_zero_under_paper():
    from realnet_brainscore.cli.options import benchmark_options
    from realnet_brainscore.report import PAPER_OPTIONS
    given = SimpleNamespace(screen=None, rdm=None, eeg_form=None, bootstrap=0, data=None)
    assert benchmark_options(given, paper=PAPER_OPTIONS) == {'screen': 'whole', 'method': 'decoding',
                                                             'eeg_form': PAPER_OPTIONS.get('eeg_form'), 'bootstrap': 0,
                                                             'data': None}
    assert benchmark_options(SimpleNamespace(screen=None, rdm=None, eeg_form=None, bootstrap=None,
                                             data=None))['bootstrap'] is None


def test_score_prints_the_interval_beside_the_score():
    record = interval_record()
    low, high = record.interval
    assert SuiteResult('Shen2019.V1-rsa', record).line().endswith(f'0.800  95% interval {low:.3f} … {high:.3f}')
