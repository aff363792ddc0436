"""`brainscore compare --paper` and the benchmark options of `score` and `compare` (--screen,
--rdm), on a small in-silico release and two random CORnet-S."""
import json

import numpy as np
import pytest

from factories import random_cornet, write_sized_checkpoint
from realnet_brainscore import cli, figures, statistics
from realnet_brainscore.synthetic import Design, ShenDesign, write_shen2019, write_things_eeg2

EEG = 'Gifford2022.IT-temporal_rsa'
PAPER_TIMES = np.round(np.arange(-0.1, 0.491, 0.01), 2)  # time points 10-69 of the -200 … 790 ms epoch
SIZE = 32  # pixels of the images and the models' input: small, for speed


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    """Three in-silico subjects (8 test images × 20 repetitions), Shen 2019 data and two models."""
    root = tmp_path_factory.mktemp('paper')
    things = write_things_eeg2(root / 'things', Design(subjects=3, concepts=2, images_per_concept=1, test_images=8,
                                                       test_repetitions=20, image_size=SIZE))
    shen = write_shen2019(root / 'shen', ShenDesign(voxels_per_roi=10, image_size=SIZE))
    models = []
    for name, seed in (('cornet-s', 1), ('realnet-s01', 2)):
        path = root / f'{name}.pth'
        write_sized_checkpoint(path, random_cornet(seed), SIZE)
        models.append(f'{name}={path}')
    return things, shen, models


def compare_argv(setup, out, *extra, benchmarks=(EEG,)):
    things, shen, models = setup
    return ['compare', '--models', *models, '--things-eeg2', str(things), '--shen2019', str(shen), '--benchmarks',
            *benchmarks, '--out', str(out), '--batch-size', '50', '-q', *extra]  # Shen's 50 images: one batch


def test_paper_reports_its_settings_and_restricts_the_eeg_time_axis(setup, tmp_path, monkeypatch, capsys):
    drawn, tested = [], []
    panel, cluster_test = figures._time_course_panel, statistics.cluster_test
    monkeypatch.setattr(figures, '_time_course_panel', lambda axis, courses, *rest: drawn.append(courses) or panel(
        axis, courses, *rest))
    monkeypatch.setattr(statistics, 'cluster_test', lambda a, b, **kw: tested.append(a.shape) or cluster_test(a, b, **kw))
    out = tmp_path / 'paper'
    # correlation RDMs keep this test fast; an explicit --rdm overrides --paper's decoding
    assert cli.main(compare_argv(setup, out, '--paper', '--rdm', 'correlation',
                                 benchmarks=(EEG, 'Shen2019.V1-rsa'))) == 0
    # realnet-s01 is scored on its own subject only (the paper's pairing): no others to contrast in matched_subjects.png
    assert {p.name for p in out.glob('*.png')} == {'eeg_time_courses.png', 'fmri_rois.png'}
    text = (out / 'report.md').read_text()
    assert "images (EEG and fMRI benchmarks): whole (the whole image resized to the model's input size" in text
    assert ('EEG RDMs: correlation. EEG form: raw (the OSF arrays as released, as the authors decoded them'
            in text) and 'EEG figure and cluster test: -100 … 490 ms.' in text
    saved = json.loads((out / 'comparison.json').read_text())
    assert saved['settings'] == {'screen': ['whole'], 'rdm_method': ['correlation'], 'eeg_form': ['raw'],
                                 'eeg_time_range_s': [-0.1, 0.49], 'matched_subjects': {'realnet-s01': 'sub-01'}}
    assert saved['statistics']['eeg']['time_range_s'] == [-0.1, 0.49]
    for record in saved['records']['realnet-s01'].values():
        assert record['screen'] == 'whole'
    # the figure draws the authors' 60 time points only: realnet-s01 on sub-01 beside cornet-s on sub-01;
    # one pair is too few for the cluster test (it needs 3 subjects)
    assert drawn and all(np.allclose(courses.times, PAPER_TIMES) for courses in drawn)
    assert all(courses.ceiling.shape == (2, 60) and all(c.shape == (1, 60) for c in courses.courses.values())
               for courses in drawn)
    assert tested == []


def test_kept_scores_are_reused_only_with_the_same_settings(setup, tmp_path, monkeypatch, capsys):
    out = tmp_path / 'kept'
    argv = compare_argv(setup, out, '--screen', 'whole', '--rdm', 'correlation')
    assert cli.main(argv) == 0
    saved = json.loads((out / 'comparison.json').read_text())  # without --paper: every time point
    assert saved['settings']['eeg_time_range_s'] is None and saved['statistics']['eeg']['time_range_s'] is None
    assert saved['statistics']['eeg']['cluster_test'] == 'mne'  # the default outside --paper
    assert len(saved['records']['cornet-s'][EEG]['time_course']['coords']['time_bin']) == 100

    def refuse(*args, **options):
        raise RuntimeError('a kept score was rerun')

    monkeypatch.setattr('realnet_brainscore.models.load_model', refuse)
    capsys.readouterr()
    assert cli.main(argv) == 0 and capsys.readouterr().out.count('1 scores kept') == 2
    # --eeg-form standardised: the kept scores' form (--paper with the OSF files would decode them raw)
    # --paper: the baseline's all-subject score is kept; the personal model is scored again on its own subject
    assert cli.main(compare_argv(setup, out, '--paper', '--rdm', 'correlation', '--eeg-form', 'standardised')) == 1
    printed = capsys.readouterr()
    assert 'cornet-s: 1 scores kept' in printed.out and 'realnet-s01: 0 scores kept' in printed.out
    assert 'a kept score was rerun' in printed.err
    for other in (['--screen', 'brainscore', '--rdm', 'correlation'], ['--screen', 'whole', '--rdm', 'crossvalidated']):
        assert cli.main(compare_argv(setup, out, *other)) == 1
        assert 'a kept score was rerun' in capsys.readouterr().err
    monkeypatch.undo()  # the personal model scored on its own subject from here on
    assert cli.main(compare_argv(setup, out, '--paper', '--rdm', 'correlation', '--eeg-form', 'standardised')) == 0
    # --paper tests as the authors did, with NeuroRA's cluster test, unless --cluster-test says otherwise
    assert json.loads((out / 'comparison.json').read_text())['statistics']['eeg']['cluster_test'] == 'neurora'
    assert "NeuroRA 1.1.6.12's, as the authors ran it" in (out / 'report.md').read_text()
    assert cli.main(compare_argv(setup, out, '--paper', '--rdm', 'correlation', '--eeg-form', 'standardised',
                                 '--cluster-test', 'mne')) == 0
    assert json.loads((out / 'comparison.json').read_text())['statistics']['eeg']['cluster_test'] == 'mne'
    assert "mne's null: sign flips" in (out / 'report.md').read_text()


def test_paper_as_the_authors_computed_it(setup, tmp_path, capsys):
    """The plain --paper path: whole images and pairwise-decoding EEG RDMs."""
    out = tmp_path / 'paper'
    assert cli.main(compare_argv(setup, out, '--paper')) == 0, capsys.readouterr().err
    text = (out / 'report.md').read_text()
    assert 'whole (the whole image' in text
    assert 'EEG RDMs: decoding. EEG form: raw (the OSF arrays' in text
    assert 'EEG figure and cluster test: -100 … 490 ms.' in text
    record = json.loads((out / 'comparison.json').read_text())['records']['realnet-s01'][EEG]
    assert record['screen'] == 'whole' and record['rdm_method'] == 'decoding' and record['eeg_form'] == 'raw'


@pytest.mark.parametrize('command, flags, message', [
    ('compare', ['--screen', 'full'], "unknown screen 'full': choose 'brainscore' or 'whole'"),
    ('compare', ['--rdm', 'pearson'], "unknown --rdm 'pearson': choose decoding, correlation, crossvalidated"),
    ('compare', ['--paper', '--rdm', 'pearson'], "unknown --rdm 'pearson'"),
    ('score', ['--screen', 'full'], "unknown screen 'full'"),
    ('score', ['--rdm', 'pearson'], "unknown --rdm 'pearson'"),
])
def test_bad_option_values_are_one_line_and_exit_2(command, flags, message, tmp_path, capsys):
    out = tmp_path / 'out'
    where = ['--models', 'cornet-s', '--out', str(out)] if command == 'compare' else ['--model', 'cornet-s']
    assert cli.main([command, *where, *flags, '-q']) == 2
    error = capsys.readouterr().err
    assert error.count('\n') == 1 and message in error, error
    assert not out.exists()


def test_score_takes_the_options_and_refuses_them_where_they_mean_nothing(setup, tmp_path, capsys):
    things, shen, models = setup
    weights = models[0].partition('=')[2]
    out = tmp_path / 'score.json'
    base = ['score', '--model', 'cornet-s', '--weights', weights, '--batch-size', '8', '-q']  # 8 EEG images
    assert cli.main([*base, '--benchmark', EEG, '--things-eeg2', str(things), '--screen', 'whole', '--rdm',
                     'correlation', '--json', str(out)]) == 0
    record = json.loads(out.read_text())
    assert record['screen'] == 'whole' and record['rdm_method'] == 'correlation'
    # named alone, a benchmark that has no use for an option refuses it rather than ignore it
    for flags, message in ((['--benchmark', 'Shen2019.V1-rsa', '--shen2019', str(shen), '--rdm', 'correlation'],
                            'Shen2019.V1-rsa takes no method option'),
                           (['--benchmark', 'MajajHong2015public.IT-pls', '--screen', 'whole'],
                            "MajajHong2015public.IT-pls is Brain-Score's own benchmark: it takes no screen option")):
        capsys.readouterr()
        assert cli.main([*base, *flags]) == 2
        error = capsys.readouterr().err
        assert error.count('\n') == 1 and message in error, error
