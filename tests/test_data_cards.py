"""Data-set cards end to end: `brainscore data init` and `data check`, the benchmarks a card gives
(NAME.<ROI>-rsa for fMRI), scored by the CLI and equal to a hand computation; the published
benchmarks' identifiers are untouched."""
import json
from pathlib import Path

import numpy as np
import pytest
from scipy.spatial.distance import pdist
from scipy.stats import spearmanr

import torch

from factories import SIZE, FixedFeatures, random_cornet, write_sized_checkpoint
from realnet_brainscore import RealnetError, cli, load_benchmark, load_model
from realnet_brainscore.data.card import load_card, open_dataset
from realnet_brainscore.plugin import card_benchmarks, list_benchmarks
from realnet_brainscore.synthetic.fmri_betas import write_fmri_betas
from realnet_brainscore.synthetic.mne_epochs import write_mne_epochs


@pytest.fixture(scope='module')
def betas(tmp_path_factory):
    return write_fmri_betas(tmp_path_factory.mktemp('cards') / 'betas')


def test_an_fmri_card_gives_one_roi_benchmark_per_roi_and_the_published_ones_stay(betas):
    assert list(card_benchmarks(betas)) == ['InSilicoBetas.V1-rsa', 'InSilicoBetas.LOC-rsa']
    assert set(list_benchmarks()) == {f'Gifford2022.{r}-temporal_rsa' for r in ('V1', 'V2', 'V4', 'IT')} | {
        f'Shen2019.{roi}-rsa' for roi in ('V1', 'V2', 'V3', 'V4', 'LOC', 'FFA', 'PPA', 'HVC')}
    benchmark = load_benchmark('InSilicoBetas.LOC-rsa', data=str(betas))
    assert benchmark.identifier == 'InSilicoBetas.LOC-rsa' and benchmark.region == 'IT'
    with pytest.raises(RealnetError, match=r'^Shen2019.V1-rsa reads its own data set, not the card .*; the card '
                                           r'gives InSilicoBetas.V1-rsa, InSilicoBetas.LOC-rsa$'):
        load_benchmark('Shen2019.V1-rsa', data=str(betas))


def test_a_roi_score_is_spearman_with_the_subjects_mean_betas_over_the_split_half_ceiling(betas):
    """A model whose IT features are sub-01's mean LOC betas: ρ = 1 on sub-01; the score is the mean ρ
    over subjects ÷ the mean split-half reliability, computed here by hand from the data set."""
    dataset = open_dataset(load_card(betas))
    loc = list(dataset.rois['LOC'])
    recordings = [dataset.recording(s, 'test') for s in dataset.subjects]
    means = [r.values[:, :, loc].mean(axis=1) for r in recordings]
    model = FixedFeatures(dict(zip(recordings[0].stimulus_ids, means[0])))
    score = load_benchmark('InSilicoBetas.LOC-rsa', data=str(betas), screen='whole', bootstrap=0)(model)
    rho = [spearmanr(pdist(means[0], 'correlation'), pdist(m, 'correlation'))[0] for m in means]
    assert rho[0] == pytest.approx(1)
    np.testing.assert_allclose(score.attrs['raw'].values, rho, atol=1e-6)

    def reliability(values):
        halves = [pdist(values[:, start::2].mean(axis=1), 'correlation') for start in (0, 1)]
        r = spearmanr(*halves)[0]
        return 2 * r / (1 + r)
    ceiling = np.mean([reliability(r.values[:, :, loc]) for r in recordings])
    assert float(score) == pytest.approx(np.mean(rho) / ceiling, abs=1e-6)


def test_data_check_describes_the_fmri_card(betas, capsys):
    assert cli.main(['data', 'check', str(betas)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:5] == ['InSilicoBetas: fMRI, fmri-betas', 'subjects: 2 (sub-01, sub-02)',
                         'images: 12 (4 test, 8 training)', 'repetitions per image: training 3, test 3', 'voxels: 40']
    assert lines[5].startswith('ROI V1: 16 voxels, compared with V1; split-half reliability 0.')
    assert lines[6].startswith('ROI LOC: 16 voxels, compared with IT; split-half reliability 0.')


def test_data_init_writes_a_card_that_reads_the_same_data_set(betas, tmp_path, capsys):
    folder = betas.parent
    card = folder / 'mine.toml'
    argv = ['data', 'init', '--format', 'fmri-betas', '--path', str(folder / 'betas'), '--images',
            str(folder / 'stimuli'), '--table', str(folder / 'stimuli.tsv'), '--roi', f'V1={folder / "rois/V1.npy"}',
            f'LOC={folder / "rois/LOC.npy"}', '--test-fraction', '0.25', '--seed', '3', '--out', str(card)]
    assert cli.main(argv) == 0
    assert 'wrote' in capsys.readouterr().out and card.is_file()
    mine, theirs = open_dataset(load_card(card)), open_dataset(load_card(betas))
    assert mine.name == 'mine' and mine.subjects == theirs.subjects and mine.stimulus_ids == theirs.stimulus_ids
    assert mine.rois == theirs.rois and len(mine.test_images) == 3 and mine.test_images <= set(mine.stimulus_ids)
    text = card.read_text()
    assert 'path = "betas"' in text and 'seed = 3' in text  # relative to the card's folder, the draw recorded
    assert cli.main(argv) == 2  # the card exists: not replaced without --force
    assert 'exists' in capsys.readouterr().err


def test_a_card_without_test_images_scores_every_image_and_training_refuses(betas, tmp_path, capsys):
    card = betas.parent / 'all-test.toml'
    card.write_text('\n'.join(line for line in betas.read_text().splitlines() if not line.startswith('test_images')))
    dataset = open_dataset(load_card(card))
    assert dataset.split_ids('test') == dataset.stimulus_ids
    code = cli.main(['train', '--subject', '1', '--data', str(card), '--out', str(tmp_path / 'runs')])
    assert code == 2
    error = capsys.readouterr().err
    assert 'names no test images, so every image is a test image' in error and error.count('\n') == 1


@pytest.mark.parametrize('text, message', [
    ('name = "x"\n', r'"format" is missing'),
    ('name = "9lives"\nformat = "bids"\n', r'"name" .* must start with a letter'),
    ('name = "a"\nformat = "csv"\nmodality = "EEG"\n', r'"format" is .csv.; expected mne-epochs or bids or fmri-betas'),
    ('name = "a"\nformat = "bids"\nmodality = "fMRI"\npath = "p"\nimages = "i"\n', r'holds EEG or MEG recordings'),
    ('name = "a"\nformat = "bids"\nmodality = "EEG"\npath = "p"\nimages = "i"\nwindow = [0.2, 0.1]\n',
     r'"window" is \[0.2, 0.1\]; expected two numbers'),
    ('name = "a"\nformat = "bids"\nmodality = "EEG"\npath = "p"\nimages = "i"\nimage_colum = "x"\n',
     r'unknown key "image_colum"'),
    ('name = "a"\nformat = "fmri-betas"\nmodality = "fMRI"\npath = "p"\nimages = "i"\n', r'needs \[fmri\] table'),
    ('name = "a"\nname = "b"\n', r'not a TOML data-set card'),
])
def test_a_bad_card_is_one_line_naming_the_card(text, message, tmp_path, capsys):
    card = tmp_path / 'card.toml'
    card.write_text(text)
    assert cli.main(['data', 'check', str(card)]) == 2
    error = capsys.readouterr().err
    assert error.count('\n') == 1 and str(card) in error
    assert __import__('re').search(message, error), error


def test_score_with_a_card_writes_the_record_under_the_cards_benchmark(betas, tmp_path, capsys):
    """The CLI path: --data CARD, a CORnet-S checkpoint, the card's benchmark and region in the record."""
    weights = tmp_path / 'cornet.pth'
    write_sized_checkpoint(weights, random_cornet(0))
    out = tmp_path / 'v1.json'
    assert cli.main(['score', '--model', 'cornet-s', '--weights', str(weights), '--benchmark', 'InSilicoBetas.V1-rsa',
                     '--data', str(betas), '--bootstrap', '0', '--json', str(out), '-q']) == 0
    record = json.loads(out.read_text())
    assert record['benchmark'] == 'InSilicoBetas.V1-rsa' and record['region'] == 'V1'
    assert 'InSilicoBetas.V1-rsa' in capsys.readouterr().out
    # nothing may be written into what the card names
    assert cli.main(['score', '--model', 'cornet-s', '--weights', str(weights), '--benchmark', 'InSilicoBetas.V1-rsa',
                     '--data', str(betas), '--json', str(betas.parent / 'stimuli' / 'x.json')]) == 2
    assert 'an input of this command' in capsys.readouterr().err


# --- An MNE Epochs data set end to end: the THINGS-EEG2 release written as Epochs files ---------------

@pytest.fixture(scope='module')
def epochs(insilico, tmp_path_factory):
    """The session's in-silico release (10 subjects, 100 training and 30 test images) as an Epochs
    data set: (its card, the release)."""
    release, _, _ = insilico
    return write_mne_epochs(release, tmp_path_factory.mktemp('cards') / 'epochs'), release


def test_data_check_describes_the_epochs_set(epochs, capsys):
    assert cli.main(['data', 'check', str(epochs[0])]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:6] == ['InSilicoEpochs: EEG, mne-epochs', f'subjects: 10 ({", ".join(f"sub-{s:02d}" for s in range(1, 9))}, …)',
                         'images: 130 (30 test, 100 training)', 'repetitions per image: training 4, test 20',
                         'channels: 17 (Pz, P3, P7, O1, Oz, O2, P4, P8, …)', 'times: 100 from -0.200 to 0.790 s']
    assert lines[6].startswith('noise ceiling (test images, correlation RDMs, leave-one-subject-out lower bound): peak')


def test_the_cards_benchmark_scores_what_the_published_benchmark_scores_on_the_same_recordings(epochs, insilico,
                                                                                                aligned):
    """The Epochs card's IT benchmark and Gifford2022's on the release the card was written from: the
    same score, time courses and ceiling for the same model (the published identifier, unchanged)."""
    card, release = epochs
    model = load_model('realnet-s01', weights=aligned[1]['best_checkpoint'], image_size=SIZE)
    options = dict(method='correlation', bootstrap=0)
    ours = load_benchmark('InSilicoEpochs.IT-temporal_rsa', data=str(card), **options)(model)
    published = load_benchmark('Gifford2022.IT-temporal_rsa', things_eeg2=str(release), **options)(model)
    assert float(ours) == pytest.approx(float(published), abs=1e-6)
    assert ours.attrs['modality'] == published.attrs['modality'] == 'EEG'
    np.testing.assert_allclose(ours.attrs['time_course'].values, published.attrs['time_course'].values, atol=1e-6)
    np.testing.assert_allclose(ours.attrs['ceiling_time_course'].values,
                               published.attrs['ceiling_time_course'].values, atol=1e-6)


def test_training_from_the_card_reads_what_training_from_the_release_reads(small, tmp_path):
    """The same subject's images (byte for byte, in the same order) and targets (bit for bit) through
    the card as through the THINGS-EEG2 reader, both splits: everything after ``responses`` is one code
    path, so the two train alike. Then a run through the card, end to end."""
    from realnet_brainscore.training import Source, train
    from realnet_brainscore.training.targets import responses
    card = write_mne_epochs(small.things_eeg2, tmp_path / 'epochs')
    recipe = small.recipe(epochs=1)
    sources = small.source(), Source(data=card, subject=2)
    for split in ('training', 'test'):
        ours, theirs = (responses(source, recipe.resolved(), split) for source in sources)
        assert [Path(p).read_bytes() for p in ours.image_paths] == [Path(p).read_bytes() for p in theirs.image_paths]
        np.testing.assert_array_equal(ours.subjects[0], theirs.subjects[0])
        assert ours.subjects[0].dtype == theirs.subjects[0].dtype == np.float32
    run = train(sources[1], recipe, small.runtime(tmp_path / 'runs'))
    assert run['best_checkpoint'].endswith('sub-02/best.pt') and run['data_set'] == 'InSilicoEpochs'


def test_compare_with_the_card_reports_the_aligned_model_above_its_start(epochs, insilico, aligned, tmp_path):
    card, _ = epochs
    _, base, _ = insilico
    start = tmp_path / 'start.pth'  # the in-silico CORnet-S the alignment started from, with its image size
    torch.save({'state_dict': torch.load(base, weights_only=True)['state_dict'], 'meta': {'config': {'image_size': SIZE}}},
               start)
    out = tmp_path / 'compare'
    assert cli.main(['compare', '--models', f'cornet-s={start}', f'realnet-s01={aligned[1]["best_checkpoint"]}',
                     '--data', str(card), '--benchmarks', 'InSilicoEpochs.V4-temporal_rsa',
                     'InSilicoEpochs.IT-temporal_rsa', '--rdm', 'correlation', '--bootstrap', '0', '--out', str(out),
                     '-q']) == 0
    records = json.loads((out / 'comparison.json').read_text())['records']
    for benchmark in ('InSilicoEpochs.V4-temporal_rsa', 'InSilicoEpochs.IT-temporal_rsa'):
        assert records['realnet-s01'][benchmark]['score'] > records['cornet-s'][benchmark]['score'] + 0.05
    assert 'InSilicoEpochs.IT-temporal_rsa' in (out / 'report.md').read_text()


def test_a_card_of_fewer_than_three_test_images_is_one_line(betas, capsys):
    card = betas.parent / 'two.toml'
    card.write_text(''.join(line if not line.startswith('test_images') else
                            'test_images = ["circle/001.png", "bar/004.png"]\n'
                            for line in betas.read_text().splitlines(keepends=True)))
    assert cli.main(['data', 'check', str(card)]) == 2
    assert capsys.readouterr().err == (f'brainscore: error: {card}: 2 test images; an RDM, and so every benchmark, '
                                       'needs at least 3\n')


@pytest.mark.parametrize('card_format, name', [('mne-epochs', 'InSilicoEpochs'), ('bids', 'InSilicoBIDS'),
                                               ('fmri-betas', 'InSilicoBetas')])
def test_synth_writes_each_cards_format_and_data_check_reads_it(card_format, name, tmp_path, capsys):
    out = tmp_path / card_format
    assert cli.main(['synth', '--format', card_format, '--out', str(out), '--subjects', '2', '--concepts', '3',
                     '--images-per-concept', '2', '--test-images', '3', '--image-size', '32', '-q']) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [card_format]  # the scratch release is gone
    assert cli.main(['data', 'check', str(out / 'card.toml')]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith(f'wrote an in-silico {card_format} data set') and f'\n{name}: ' in printed
    assert cli.main(['synth', '--format', card_format, '--out', str(tmp_path / 'x'), '--shen2019',
                     str(tmp_path / 'y')]) == 2
    assert capsys.readouterr().err == 'brainscore: error: --shen2019 goes with --format things-eeg2\n'
    assert not (tmp_path / 'x').exists()
