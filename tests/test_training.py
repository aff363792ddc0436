"""Training on in-silico subjects (CPU, small images): alignment works, resumes exactly, fails clearly."""
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import spearmanr

from factories import SIZE, eeg_window
from realnet_brainscore import RealnetError, cli, load_model, load_network
from realnet_brainscore.backbones import LayerTaps
from realnet_brainscore.data.things_eeg2 import image_paths, load_subject
from realnet_brainscore.encoder import EncodingHead, ReAlnet
from realnet_brainscore.training import train
from realnet_brainscore.training.data import decode_image, image_cache, to_input
from realnet_brainscore.training.objective import Aligner
from realnet_brainscore.training.run_data import Part



def _rdm(features):
    return 1 - np.corrcoef(features)[np.triu_indices(len(features), 1)]


def held_out_measures(release, start, checkpoint_file, seed: int, names=('cornet-s', 'realnet-s01'), subject=1):
    """Before (``start``, loaded as ``names[0]``, with a random head) and after alignment (the
    checkpoint, as ``names[1]``), on the test images never seen in training: generation r (mean over
    EEG features of Pearson r across images, predicted vs recorded repetition-averaged EEG) and the
    Spearman ρ between the RDM of each region's layer (V2 V4 IT) and the EEG RDM."""
    test = load_subject(release, subject, 'test', average_repetitions=True)
    checkpoint = torch.load(checkpoint_file, weights_only=True)
    # eeg_mean/eeg_std: shape (1,) per subject (paper) or (n_features,) per feature (improved)
    eeg = (eeg_window(test) - checkpoint['eeg_mean'].numpy()) / checkpoint['eeg_std'].numpy()
    x = to_input(np.stack([decode_image(p, SIZE) for p in test['image_path'].values]), 'cpu')

    def measure(network, head):
        regions = {area: network.spec.regions[area] for area in ('V2', 'V4', 'IT')}
        with torch.no_grad(), LayerTaps(network.backbone, regions.values()) as taps:
            pred = ReAlnet(network.backbone.eval(), head.eval())(x)[1].numpy()
            layers = taps.take()
        prediction_r = np.mean([np.corrcoef(pred[:, f], eeg[:, f])[0, 1] for f in range(eeg.shape[1])])
        rdm_rho = {area: spearmanr(_rdm(layers[layer].flatten(1).numpy()), _rdm(eeg))[0]
                   for area, layer in regions.items()}
        return prediction_r, rdm_rho

    before = load_network(names[0], weights=start)
    torch.manual_seed(seed)
    r_before, rho_before = measure(before, EncodingHead.for_backbone(before.backbone, SIZE, eeg.shape[1],
                                                                     layers=before.spec.layers))
    after = load_network(names[1], weights=checkpoint_file)
    r_after, rho_after = measure(after, after.head)
    return r_before, rho_before, r_after, rho_after


def test_alignment_predicts_held_out_eeg_and_moves_rdms_toward_it(insilico, aligned):
    release, base, _ = insilico
    (_, recipe, _), summary = aligned
    r_before, rho_before, r_after, rho_after = held_out_measures(release, base, summary['best_checkpoint'],
                                                                 recipe.seed)
    # measured (paper recipe, the default): r 0.00 -> 0.27; RDM Spearman V2 +0.08, V4 +0.10, IT +0.10
    assert abs(r_before) < 0.1 and r_after > r_before + 0.2
    assert all(rho_after[a] > rho_before[a] for a in rho_after)
    assert np.mean([rho_after[a] - rho_before[a] for a in rho_after]) > 0.03


def test_improved_recipe_aligns_in_silico_subjects_too(insilico, aligned, resnet_start, tmp_path):
    """The improved recipe with the `aligned` run's data and settings, on a ResNet-18 (the recipe does
    not depend on the backbone; the paper recipe's result on CORnet-S is tested above). In-silico
    subjects only: nothing here says which recipe is better on real EEG."""
    release = insilico[0]
    (source, recipe, runtime), _ = aligned
    recipe = replace(recipe, recipe='improved', backbone='resnet18', backbone_weights=resnet_start)
    improved = train(source, recipe, replace(runtime, out=tmp_path / 'improved'))
    r_before, rho_before, r_after, rho_after = held_out_measures(release, resnet_start, improved['best_checkpoint'],
                                                                 recipe.seed, names=('resnet18', 'resnet18-eeg-s01'))
    print(f'\nimproved recipe, ResNet-18: r {r_before:.3f} -> {r_after:.3f}; RDM rho gains',
          {a: round(rho_after[a] - rho_before[a], 3) for a in rho_after})
    assert r_after > r_before + 0.15 and np.mean([rho_after[a] - rho_before[a] for a in rho_after]) > 0.01


def test_run_folder_log_and_checkpoint_metadata(insilico, aligned):
    (_, _, runtime), summary = aligned
    folder = runtime.out / 'sub-01'
    assert sorted(p.name for p in folder.iterdir()) == ['best.pt', 'last.pt', 'log.jsonl', 'summary.json']
    log = [json.loads(line) for line in (folder / 'log.jsonl').read_text().splitlines()]
    assert [r['epoch'] for r in log] == [1, 2, 3]
    for split in ('train', 'val'):
        for term in ('cls', 'mse', 'matched_r', 'unmatched_r', 'gen', 'loss'):
            assert all(np.isfinite(r[f'{split}_{term}']) for r in log)
    assert log[-1]['train_matched_r'] > log[0]['train_matched_r']
    assert summary['best_epoch'] == min(log, key=lambda r: r['val_loss'])['epoch']
    meta = torch.load(folder / 'best.pt', weights_only=True)['meta']
    assert meta['subject'] == 1 and meta['epoch'] == summary['best_epoch']
    assert meta['config']['lr'] == 6e-5 and meta['config']['beta'] == 100.0 and meta['n_validation_images'] == 10
    assert len(meta['data_fingerprint']) == 16 and meta['package_version']
    model = load_model('realnet-s01', weights=folder / 'best.pt')
    assert model.identifier.startswith('realnet-s01+')


class Killed(Exception):
    pass


@pytest.mark.slow
def test_resume_after_a_kill_gives_the_same_weights(small, tmp_path, monkeypatch):
    """Killed after epoch 1; a resume whose save fails (a full disk) keeps epoch 1's files as they
    were; a resume that succeeds gives the weights and log of the run never stopped."""
    source, recipe, runtime = small.source(), small.recipe(), small.runtime
    taught = []
    with monkeypatch.context() as patch:  # the frozen teacher sees each image in epoch 1 only
        teacher_logits = Aligner.teacher_logits
        patch.setattr(Aligner, 'teacher_logits', lambda self, x: taught.append(len(x)) or teacher_logits(self, x))
        train(source, recipe, runtime(tmp_path / 'whole'))
    assert sum(taught) == 20  # 18 training images in two batches, 2 held out: over two epochs

    def kill_after_first_epoch(record):
        if record['epoch'] == 1:
            raise Killed
    with pytest.raises(Killed):
        train(source, recipe, runtime(tmp_path / 'killed'), on_epoch_end=kill_after_first_epoch)
    folder = tmp_path / 'killed' / 'sub-02'
    assert not (folder / 'summary.json').exists()
    with pytest.raises(RealnetError, match=r'already holds a run \(last.pt, best.pt, log.jsonl\); pass `resume`'):
        train(source, recipe, runtime(tmp_path / 'killed'))
    with pytest.raises(RealnetError, match=r'`resume` with other settings than the run \(lr\)'):
        train(source, replace(recipe, lr=1e-3), runtime(tmp_path / 'killed', resume=True))
    finished = {name: (folder / name).read_bytes() for name in ('best.pt', 'last.pt', 'log.jsonl')}

    # epoch 2 improves on epoch 1 (see SmallRuns): its first save, best.pt, fails before the log is written
    def broken_save(obj, path, *args, **kwargs):
        with open(path, 'wb') as stream:
            stream.write(b'half')
        raise OSError('disk full')
    with monkeypatch.context() as patch:
        patch.setattr(torch, 'save', broken_save)
        with pytest.raises(OSError, match='disk full'):
            train(source, recipe, runtime(tmp_path / 'killed', resume=True))
    assert {name: (folder / name).read_bytes() for name in finished} == finished
    assert sorted(p.name for p in folder.iterdir()) == ['best.pt', 'last.pt', 'log.jsonl']
    train(source, recipe, runtime(tmp_path / 'killed', resume=True))

    whole = torch.load(tmp_path / 'whole' / 'sub-02' / 'last.pt', weights_only=True)
    resumed = torch.load(tmp_path / 'killed' / 'sub-02' / 'last.pt', weights_only=True)
    assert whole['state_dict'].keys() == resumed['state_dict'].keys()
    for key, value in whole['state_dict'].items():
        torch.testing.assert_close(resumed['state_dict'][key], value, rtol=0, atol=0, msg=key)
    logs = [(tmp_path / run / 'sub-02' / 'log.jsonl').read_text().splitlines() for run in ('whole', 'killed')]
    assert [json.loads(l)['val_loss'] for l in logs[0]] == [json.loads(l)['val_loss'] for l in logs[1]]


def test_the_teachers_logits_of_an_image_are_computed_once_and_kept():
    pixels = np.random.default_rng(0).integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
    part = Part(np.arange(2, 10), pixels, torch.zeros(10, 1), 'cpu')
    network = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(192, 5)).eval().requires_grad_(False)
    batches = []

    def teacher(x):
        batches.append(len(x))
        return network(x)

    def logits(indices):
        return part.teacher_logits(np.array(indices), part.images(np.array(indices), False), teacher)
    first = logits([7, 2, 5])  # rows in sorted order, as ``images`` gives them: 2, 5, 7
    torch.testing.assert_close(first, network(part.images(np.array([2, 5, 7]), False)), rtol=0, atol=0)
    assert torch.equal(logits([5, 7, 2]), first) and batches == [3]
    mixed = logits([9, 2])  # one image not seen yet: the teacher runs on the whole batch
    assert batches == [3, 2]
    torch.testing.assert_close(mixed[0], first[0])
    assert torch.equal(logits([9]), mixed[1:]) and torch.equal(logits([2, 5]), first[:2]) and batches == [3, 2]


def test_image_cache_is_built_once_and_holds_the_decoded_pixels(insilico, tmp_path):
    paths = image_paths(insilico[0], 'test')[:5]
    first = image_cache(paths, 32, tmp_path, workers=1, progress=False)
    assert first.shape == (5, 32, 32, 3) and first.dtype == np.uint8
    np.testing.assert_array_equal(first[3], decode_image(paths[3], 32))
    again = image_cache(paths, 32, tmp_path, workers=1, progress=False)
    assert again.filename == first.filename
    assert image_cache(paths, 40, tmp_path, workers=1, progress=False).filename != first.filename
    assert image_cache(paths[:4], 32, tmp_path, workers=1, progress=False).filename != first.filename
    assert not list(tmp_path.glob('*.partial'))


def test_cli_refuses_bad_input_with_one_line(small, tmp_path, capsys):
    release = small.things_eeg2  # subjects 1 and 2
    broken = tmp_path / 'broken'
    shutil.copytree(release, broken)
    next((broken / 'image_set' / 'training_images').rglob('*.jpg')).write_bytes(b'not a jpeg')
    empty = tmp_path / 'empty'
    shutil.copytree(release, empty)
    sorted((empty / 'image_set' / 'training_images').rglob('*.jpg'))[-1].write_bytes(b'')
    common = ['--out', str(tmp_path / 'out'), '--backbone', 'resnet18', '--backbone-weights', str(small.weights),
              '--image-size', str(small.image_size), '--epochs', '1', '-q']
    cases = [
        (['--subject', '1', '--things-eeg2', str(tmp_path / 'nowhere')], 'nowhere: no such folder'),
        (['--subject', '3', '--things-eeg2', str(release)], r'things: no subject sub-03 \(it holds sub-01, sub-02\)'),
        (['--subject', '1', '--things-eeg2', str(broken)], r'\.jpg: not an image file'),
        (['--subject', '1', '--things-eeg2', str(empty)], r'\.jpg: an empty file'),
        (['--subject', '1', '--things-eeg2', str(release), '--validation-fraction', '1.5'], 'between 0 and 1'),
        (['--subject', '1', '--things-eeg2', str(release), '--window', '0.9', '1.0'], 'holds no time points'),
        (['--subject', '1', '--things-eeg2', str(release), '--channels', 'Cz'], "unknown EEG channels \\['Cz'\\]"),
    ]
    for arguments, message in cases:
        assert cli.main(['train', *arguments, *common]) == 2, arguments
        error = capsys.readouterr().err
        assert error.count('\n') == 1 and error.startswith('brainscore: error:')
        assert re.search(message, error), error
    assert not (tmp_path / 'out').exists()


@pytest.mark.slow
def test_torchrun_data_parallel_writes_the_same_layout(small, tmp_path):
    """Two CPU processes (gloo) under torchrun: one run folder, written once, loadable."""
    command = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port',
               str(29500 + os.getpid() % 1000), '-m', 'realnet_brainscore.cli',
               *small.train_args(tmp_path / 'ddp', '-q')]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    folder = tmp_path / 'ddp' / 'sub-02'
    assert sorted(p.name for p in folder.iterdir()) == ['best.pt', 'last.pt', 'log.jsonl', 'summary.json']
    assert result.stdout.count('sub-02: best epoch') == 1  # only rank 0 reports
    log = [json.loads(line) for line in (folder / 'log.jsonl').read_text().splitlines()]
    assert [r['epoch'] for r in log] == [1, 2]
    assert load_network('resnet18-eeg-s02', weights=folder / 'last.pt').head is not None


TIMING = Path(__file__).resolve().parents[1] / 'timing' / 'training_step.py'
ANCHOR = """print('warming up')
print('RESULT reference fp32 batch 16: 5 img/s | limit backbone only: 9 img/s')
"""


def _timing():
    """timing/training_step.py (outside the installed package) as a module."""
    spec = importlib.util.spec_from_file_location('training_step', TIMING)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_timing_runs_beside_the_anchor(tmp_path, capsys):
    """Beside a stand-in anchor of the published step's output form (the real one is not part of
    this repository)."""
    anchor = tmp_path / 'anchor_step.py'
    anchor.write_text(ANCHOR)
    timing = _timing()
    # one untimed and one timed step per row: the rows and their form are tested, not the rates
    assert timing.main(['--quick', '--anchor', str(anchor), '--batches', '2', '--subjects', '2', '--warmup', '1',
                        '--steps', '1']) == 0
    out = capsys.readouterr().out
    assert re.search(r'published step \(anchor, fp32 batch 16\)\s+[\d.]+\s+1\.00', out)
    assert re.search(r'anchor limit backbone only\s+9\.0\s+1\.80', out)
    assert re.search(r'this trainer, batch 2\s+[\d.]+\s+[\d.]+', out) and 'image cache build' in out
    assert re.search(r'2 subjects: subject-images/s.*\n\s+batch 2\s+[\d.]+\s+[\d.]+\s+[\d.]+', out)
    assert timing.main(['--quick', '--anchor', str(tmp_path / 'absent.py')]) == 2
    for module in ('realnet_brainscore.training.timing', 'realnet_brainscore.rsa_timing',
                   'realnet_brainscore.decoding_timing'):
        assert importlib.util.find_spec(module) is None  # the timing scripts are not part of the package


@pytest.mark.parametrize('argv', [['--batches', '16,x'], ['--subjects', '0'], ['--steps', '-1']])
def test_timing_refuses_bad_counts_in_one_line(argv, capsys):
    with pytest.raises(SystemExit) as stopped:
        _timing().main(['--quick', '--anchor', 'anchor_step.py', *argv])
    error = capsys.readouterr().err.strip().splitlines()[-1]
    assert stopped.value.code == 2 and 'expected a positive whole number' in error


def test_timing_needs_its_anchor_named(capsys):
    with pytest.raises(SystemExit) as stopped:
        _timing().main(['--quick'])
    assert stopped.value.code == 2 and '--anchor' in capsys.readouterr().err


def test_subject_lists(tmp_path, capsys):
    from realnet_brainscore.cli.options import subject_range
    assert subject_range('1-10') == list(range(1, 11)) and subject_range('1,3-4') == [1, 3, 4]
    for bad in ('a', '3-'):
        with pytest.raises(Exception, match='subjects'):
            subject_range(bad)
    for bad, subject in (('0-2', 0), ('11', 11)):  # which subjects there are, training says
        arguments = ['train', '--subjects', bad, '--things-eeg2', str(tmp_path), '--out', str(tmp_path / 'out')]
        assert cli.main(arguments) == 2
        assert f'--subject must be 1 to 10 for THINGS-EEG2, got {subject}' in capsys.readouterr().err
