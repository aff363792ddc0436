"""Several subjects in one pass (`train --together`): each subject's run is the one training it alone
writes, a killed pass resumes every subject, and settings that cannot share batches are refused."""
import contextlib
import json
from dataclasses import replace

import pytest
import torch

from factories import SIZE
from realnet_brainscore import RealnetError, cli
from realnet_brainscore.backbones import create
from realnet_brainscore.synthetic import Design, write_things_eeg2
from realnet_brainscore.training import Recipe, Runtime, Source, train, train_together

pytestmark = pytest.mark.slow  # every test here trains networks

SUBJECTS = (1, 2)
TIMING_KEYS = ('seconds', 'images_per_second')  # the one part of a log that differs between two runs


@pytest.fixture(scope='module')
def tiny(insilico, tmp_path_factory):
    """20 training images of two subjects (2 steps an epoch), 2 epochs, 32 px, and a ResNet-18 (for
    speed: what is tested is the loop, and a CORnet-S run writes 0.8 GB of checkpoints an epoch)."""
    _, _, root = insilico
    folder = tmp_path_factory.mktemp('together')
    small = write_things_eeg2(folder / 'small',
                              Design(subjects=2, concepts=4, images_per_concept=5, test_images=2, image_size=SIZE))
    torch.manual_seed(0)
    torch.save({'state_dict': create('resnet18').state_dict()}, folder / 'resnet18.pth')
    recipe = Recipe(backbone='resnet18', backbone_weights=folder / 'resnet18.pth', image_size=SIZE // 2, epochs=2,
                    lr=1e-4)
    return dict(things_eeg2=small, recipe=recipe,
                runtime=lambda out, **runtime: Runtime(out=out, progress=False, cache_dir=root / 'cache', **runtime))


@contextlib.contextmanager
def cpu_threads(n):
    """torch's CPU threads set to n (the results depend on it), then restored."""
    saved = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(saved)


@pytest.fixture(scope='module')
def alone(tiny, tmp_path_factory):
    """Each subject trained on its own with one CPU thread."""
    out = tmp_path_factory.mktemp('alone')
    with cpu_threads(1):
        for subject in SUBJECTS:
            train(Source(things_eeg2=tiny['things_eeg2'], subject=subject), tiny['recipe'], tiny['runtime'](out))
    return out


def assert_same_runs(first, second):
    """Same weights, bit for bit (the same operations in the same order on the CPU, each student with
    one thread), and the same log. (Another thread count sums in another order: rounding that Adam's
    per-element scaling turns into whole-step differences where a gradient is near zero.)"""
    for subject in SUBJECTS:
        for name in ('last.pt', 'best.pt'):
            a, b = (torch.load(out / f'sub-0{subject}' / name, weights_only=True) for out in (first, second))
            assert a['state_dict'].keys() == b['state_dict'].keys()
            for key, value in a['state_dict'].items():
                torch.testing.assert_close(b['state_dict'][key], value, rtol=0, atol=0, msg=f'sub-0{subject} {key}')
            assert {k: v for k, v in a['meta'].items()} == {k: v for k, v in b['meta'].items()}
        logs = [[{k: v for k, v in json.loads(line).items() if k not in TIMING_KEYS}
                 for line in (out / f'sub-0{subject}' / 'log.jsonl').read_text().splitlines()] for out in (first, second)]
        assert logs[0] == logs[1]


def test_together_one_after_another_gives_each_subject_what_training_it_alone_gives(alone, tiny, tmp_path, capsys):
    argv = ['train', '--subjects', '1,2', '--together', '--things-eeg2', str(tiny['things_eeg2']), '--out',
            str(tmp_path), '--backbone', 'resnet18', '--backbone-weights', str(tiny['recipe'].backbone_weights),
            '--image-size', str(SIZE // 2), '--epochs', '2', '--lr', '1e-4']
    with cpu_threads(1):
        assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert 'sub-01 epoch 2: train loss' in out and 'sub-02 epoch 2: train loss' in out
    assert_same_runs(alone, tmp_path)


class Killed(Exception):
    pass


def test_a_killed_pass_resumed_gives_what_training_alone_gives(alone, tiny, tmp_path):
    def kill_after_sub01_saved_epoch_1(record):
        if record['run'] == 'sub-01' and record['epoch'] == 1:
            raise Killed  # sub-01 has saved epoch 1, sub-02 has saved nothing
    sources = [Source(things_eeg2=tiny['things_eeg2'], subject=subject) for subject in SUBJECTS]
    with cpu_threads(1), pytest.raises(Killed):
        train_together(sources, tiny['recipe'], tiny['runtime'](tmp_path), on_epoch_end=kill_after_sub01_saved_epoch_1)
    assert (tmp_path / 'sub-01' / 'last.pt').is_file() and not (tmp_path / 'sub-02' / 'last.pt').exists()
    with cpu_threads(1):
        train_together(sources, tiny['recipe'], tiny['runtime'](tmp_path, resume=True))
    assert_same_runs(alone, tmp_path)


@pytest.mark.parametrize('change, message', [
    ({'things_eeg2': 'elsewhere'}, 'runs trained together share every setting and the data; these differ: the data'),
    ({'subject': 1}, 'each subject once'),
    ({'subject': None, 'group': (1, 2)}, 'not group models'),
])
def test_runs_that_cannot_share_batches_are_refused_before_any_work(tiny, tmp_path, change, message):
    """(Every setting but the data is shared by construction: one recipe trains them all.)"""
    first = Source(things_eeg2=tiny['things_eeg2'], subject=1)
    sources = [first, replace(first, **{'subject': 2, **change})]
    with pytest.raises(RealnetError, match=message):
        train_together(sources, tiny['recipe'], tiny['runtime'](tmp_path))
    assert not any(tmp_path.iterdir())
