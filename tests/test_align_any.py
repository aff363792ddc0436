"""Alignment beyond CORnet-S and EEG, on in-silico subjects: a torchvision ResNet-18 aligned with EEG
and with fMRI (as ReAlnet-fMRI aligns CORnet-S), a CORnet-S group model; each becomes a Brain-Score
model and a submission the website's rules accept."""
import json

import numpy as np
import pytest
import torch
from brainscore_core.benchmarks import score_benchmark

from factories import SIZE, eeg_window
from realnet_brainscore import cli, load_benchmark, load_model, load_network
from realnet_brainscore.data.things_eeg2 import load_subject
from realnet_brainscore.submission import check
from realnet_brainscore.synthetic import ShenDesign, write_shen2019
from realnet_brainscore.training import Recipe, Runtime, Source, train
from realnet_brainscore.training.distributed import Distributed
from realnet_brainscore.training.run_data import RunData

pytestmark = pytest.mark.slow  # every test here trains networks


def mean_score(model, benchmarks, **data) -> float:
    return float(np.mean([score_benchmark(load_benchmark(b, **data), model).item() for b in benchmarks]))


def exported_and_checked(identifier, weights, tmp_path):
    out = tmp_path / f'{identifier}.zip'
    assert cli.main(['submission', 'export', '--model', identifier, '--weights', str(weights), '--weights-url',
                     'https://example.org/run.pt', '--out', str(out), '-q']) == 0
    return check(out, check_index=False)  # the package index is tested on loopback


EEG_BENCHMARKS = [f'Gifford2022.{region}-temporal_rsa' for region in ('V2', 'V4', 'IT')]


def test_resnet18_aligned_with_eeg_gains_on_the_eeg_benchmark(insilico, resnet_start, tmp_path):
    release, _, root = insilico
    recipe = Recipe(backbone='resnet18', backbone_weights=resnet_start, image_size=SIZE, epochs=3, lr=6e-5)
    runtime = Runtime(out=tmp_path / 'run', progress=False, cache_dir=root / 'cache')
    best = train(Source(things_eeg2=release, subject=1), recipe, runtime)['best_checkpoint']
    # `compare` takes the start as a plain file under its architecture's name and the aligned file under its own
    out = tmp_path / 'compare'
    assert cli.main(['compare', '--models', f'resnet18={resnet_start}', f'resnet18-eeg-s01={best}', '--baseline',
                     'resnet18', '--benchmarks', *EEG_BENCHMARKS, '--things-eeg2', str(release), '--rdm', 'correlation',
                     '--out', str(out), '-q']) == 0
    records = json.loads((out / 'comparison.json').read_text())['records']
    before, after = (np.mean([records[name][b]['score'] for b in EEG_BENCHMARKS])
                     for name in ('resnet18', 'resnet18-eeg-s01'))
    print(f'\nResNet-18 in-silico EEG temporal RSA (V2 V4 IT mean): start {before:.3f} -> aligned {after:.3f}')
    assert after > before + 0.02
    aligned = load_model('resnet18-eeg-s01', weights=best)
    assert aligned.layers == ['layer1', 'layer2', 'layer3', 'layer4', 'avgpool']
    assert aligned.identifier.startswith('resnet18-eeg-s01+')
    assert exported_and_checked('resnet18-eeg-s01', best, tmp_path) == []


@pytest.fixture(scope='module')
def shen(tmp_path_factory):
    return write_shen2019(tmp_path_factory.mktemp('shen') / 'shen', ShenDesign(image_size=SIZE, train_images=150))


SHEN_BENCHMARKS = [f'Shen2019.{roi}-rsa' for roi in ('V1', 'V4', 'HVC')]


def test_resnet18_aligned_with_fmri_gains_on_the_shen_rois(insilico, resnet_start, shen, tmp_path):
    root = insilico[2]
    recipe = Recipe(backbone='resnet18', backbone_weights=resnet_start, image_size=SIZE, epochs=2, lr=6e-5)
    summary = train(Source(shen2019=shen, subject=1), recipe,
                    Runtime(out=tmp_path / 'run', progress=False, cache_dir=root / 'cache'))
    assert summary['modality'] == 'fMRI' and summary['best_checkpoint'].endswith('sub-01/best.pt')
    network = load_network('resnet18-fmri-s01', weights=summary['best_checkpoint'])
    assert network.head.fc.out_features == 134  # 150 images, 135 of them training: 134 principal components
    before = mean_score(load_model('resnet18', weights=resnet_start), SHEN_BENCHMARKS, shen2019=shen)
    after = mean_score(load_model('resnet18-fmri-s01', weights=summary['best_checkpoint']), SHEN_BENCHMARKS,
                       shen2019=shen)
    print(f'\nResNet-18 in-silico Shen 2019 RSA (V1 V4 HVC mean): start {before:.3f} -> fMRI-aligned {after:.3f}')
    assert after > before + 0.02
    assert exported_and_checked('resnet18-fmri-s01', summary['best_checkpoint'], tmp_path) == []


def test_group_model_generates_each_subjects_responses_and_scores(insilico, small, tmp_path):
    """CORnet-S (`realnet-group`) on the two subjects of the `small` runs, one epoch at 32 px."""
    release, base = small.things_eeg2, insilico[1]
    argv = ['train', '--subjects', '1,2', '--group', '--things-eeg2', str(release), '--out', str(tmp_path / 'run'),
            '--cornet-weights', str(base), '--image-size', str(small.image_size), '--epochs', '1', '-q']
    assert cli.main(argv) == 0
    best = tmp_path / 'run' / 'group' / 'best.pt'
    checkpoint = torch.load(best, weights_only=True)
    assert checkpoint['meta']['subjects'] == [1, 2] and checkpoint['state_dict']['fc.weight'].shape[0] == 2 * 340
    # the targets are the two subjects' z-scored EEG side by side, each with its own mean and SD
    data = RunData(Source(things_eeg2=release, group=(1, 2)), Recipe(image_size=small.image_size),
                   small.runtime(tmp_path / 'x'), Distributed(), 'cpu')
    for block, subject in enumerate((1, 2)):
        raw = eeg_window(load_subject(release, subject, 'training', average_repetitions=True))
        expected = (raw - raw.mean()) / (raw.std() + 1e-6)
        assert np.allclose(data.train.targets[:, block * 340:(block + 1) * 340].numpy(), expected, atol=1e-4)
    model = load_model('realnet-group', weights=best)
    assert np.isfinite(mean_score(model, ['Gifford2022.IT-temporal_rsa'], things_eeg2=release, method='correlation'))
    assert exported_and_checked('realnet-group', best, tmp_path) == []


@pytest.mark.parametrize('argv, message', [
    (['--subject', '4', '--shen2019', '{data}'], '--subject must be 1 to 3 for Shen 2019, got 4'),
    (['--subject', '1', '--shen2019', '{data}', '--select-on', 'test'], '--select-on test is for EEG'),
    (['--subject', '1', '--shen2019', '{data}', '--window', '0', '0.1'], '--window is for EEG'),
    (['--subject', '1', '--shen2019', '{data}', '--channels', 'Oz'], '--channels is for EEG'),
    (['--subject', '1', '--group', '--things-eeg2', '{data}'], '--group needs --subjects LIST'),
    (['--subjects', '2', '--group', '--things-eeg2', '{data}'], '--group must hold two subjects at least'),
    (['--subjects', '1,1', '--together', '--things-eeg2', '{data}'], 'each subject once'),
    (['--subject', '1', '--things-eeg2', '{data}', '--backbone', 'resnet18', '--layers', 'layer9'],
     "the backbone has no module 'layer9'"),
    (['--subject', '1', '--things-eeg2', '{data}', '--regions', 'V1=V1'], 'must map each of V1 V2 V4 IT'),
])
def test_bad_training_requests_are_one_line_and_write_nothing(argv, message, tmp_path, capsys):
    (tmp_path / 'data').mkdir()
    argv = [part.replace('{data}', str(tmp_path / 'data')) for part in argv]
    assert cli.main(['train', *argv, '--out', str(tmp_path / 'out'), '-q']) == 2
    error = capsys.readouterr().err.strip()
    assert message in error and '\n' not in error
    assert not (tmp_path / 'out').exists()
