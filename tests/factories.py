"""Files the tests make in the published formats: checkpoints, images, stimulus sets."""
import hashlib
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image
from torchvision import transforms

from realnet_brainscore.cornet import CORnetS
from realnet_brainscore.encoder import EncodingHead
from realnet_brainscore.training import Recipe, Runtime, Source

SIZE = 64  # pixels of the in-silico images and of the models trained on them


class SmallRuns(NamedTuple):
    """The data and start of the tests of the training loop (conftest's ``small``): two in-silico
    subjects with 20 training images (2 steps an epoch) and 10 test images at 32 px, and a ResNet-18
    with random weights, batch norm calibrated on the training images (its validation loss falls
    from epoch 1 to 2). What those tests check (resume, locks, refusals, processes, layouts) does
    not depend on the backbone; a ResNet-18 step at 32 px is a twentieth of a CORnet-S step here."""
    things_eeg2: Path
    weights: Path
    cache_dir: Path
    image_size: int = 32

    def recipe(self, **settings):
        """2 epochs at lr 1e-4, unless ``settings`` say otherwise."""
        return Recipe(**{'backbone': 'resnet18', 'backbone_weights': self.weights, 'image_size': self.image_size,
                         'epochs': 2, 'lr': 1e-4, **settings})

    def runtime(self, out, **settings):
        return Runtime(out=out, progress=False, cache_dir=self.cache_dir, **settings)

    def source(self, subject: int = 2):
        return Source(things_eeg2=self.things_eeg2, subject=subject)

    def train_args(self, out, *extra, subjects=('--subject', '2')) -> list:
        """``brainscore train`` of ``subjects`` into ``out`` as ``recipe()`` trains, then ``extra``."""
        return ['train', *subjects, '--things-eeg2', str(self.things_eeg2), '--out', str(out),
                '--backbone', 'resnet18', '--backbone-weights', str(self.weights), '--image-size',
                str(self.image_size), '--epochs', '2', '--lr', '1e-4', *extra]


def write_calibrated_resnet18(path, release, image_size: int, meta=None) -> Path:
    """A ResNet-18 with random weights (seed 0), batch norm calibrated on the training images of the
    THINGS-EEG2 release ``release``, saved with ``meta`` (if given) to ``path``."""
    from realnet_brainscore.backbones import create
    from realnet_brainscore.data.things_eeg2 import image_paths
    from realnet_brainscore.synthetic import calibrated
    torch.manual_seed(0)
    state = calibrated(create('resnet18'), image_paths(release, 'training'), image_size).state_dict()
    torch.save({'state_dict': state, **({'meta': meta} if meta else {})}, path)
    return path


def random_cornet(seed: int) -> CORnetS:
    """CORnet-S with random weights and non-trivial batch-norm statistics, in eval mode."""
    torch.manual_seed(seed)
    model = CORnetS()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
            module.weight.data.uniform_(0.5, 1.5)
            module.bias.data.uniform_(-0.1, 0.1)
    return model.eval()


def write_dicarlolab_checkpoint(path, model: CORnetS):
    """The ImageNet release's layout: DataParallel keys plus training bookkeeping."""
    torch.save({'epoch': 43, 'flags': {'lr': 0.1, 'batch_size': 256, 'arch': 'S'},
                'state_dict': {f'module.{key}': value for key, value in model.state_dict().items()},
                'optimizer': {'state': {}, 'param_groups': [{'lr': 0.001, 'momentum': 0.9, 'params': [0]}]}},
               path)


def write_sized_checkpoint(path, model: CORnetS, image_size: int = SIZE):
    """A CORnet-S file that records the image size it was trained at, as `brainscore demo` writes its
    baseline: models load at that size, not at the published 224 px (12 times the pixels at 64)."""
    torch.save({'state_dict': {f'module.{key}': value for key, value in model.state_dict().items()},
                'meta': {'config': {'image_size': image_size}}}, path)


def write_realnet_checkpoint(path, backbone: CORnetS, head: EncodingHead):
    """The published ReAlnet encoder layout: ``realnet.module.<CORnet-S key>`` and ``fc_v1 … fc``."""
    state = {f'realnet.module.{key}': value for key, value in backbone.state_dict().items()}
    state.update(head.state_dict())
    torch.save(state, path)


def sha(path, algorithm='sha1') -> str:
    return hashlib.new(algorithm, path.read_bytes()).hexdigest()


def write_images(folder, count: int, seed: int = 0, size=(160, 120)):
    """Noise images with a coloured rectangle each, so that they differ in content."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        top, left = rng.integers(0, size[1] // 2), rng.integers(0, size[0] // 2)
        pixels[top:top + size[1] // 3, left:left + size[0] // 3] = rng.integers(0, 256, 3)
        path = folder / f'image_{index:03d}.png'
        Image.fromarray(pixels).save(path)
        paths.append(path)
    return paths


def stimulus_set(folder, count: int, identifier: str, seed: int = 0, labels=None, size=(160, 120)):
    from brainscore_core.supported_data_standards.brainio.stimuli import StimulusSet
    paths = write_images(folder, count, seed, size)
    rows = [{'stimulus_id': f'{identifier}-{index}'} for index in range(count)]
    if labels is not None:
        for row, label in zip(rows, labels):
            row['image_label'] = label
    stimuli = StimulusSet(rows)
    stimuli.stimulus_paths = {row['stimulus_id']: path for row, path in zip(rows, paths)}
    stimuli.identifier = identifier
    return stimuli


def independent_forward(model: CORnetS, stimuli, image_size: int = 224) -> dict:
    """Area outputs and logits with torchvision's ImageNet preprocessing, outside Brain-Score."""
    preprocess = transforms.Compose([transforms.Resize((image_size, image_size)), transforms.ToTensor(),
                                     transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    images = torch.stack([preprocess(Image.open(stimuli.get_stimulus(i)).convert('RGB'))
                          for i in stimuli['stimulus_id']])
    with torch.no_grad():
        return model.eval().forward_areas(images)


class FixedFeatures:
    """A stand-in Brain-Score model: whatever region is recorded responds to each stimulus with the
    features ``features`` gives it (stimulus id -> vector)."""
    identifier = 'fixed-features'

    def __init__(self, features: dict):
        self.features = features

    def visual_degrees(self):
        return 8

    def start_task(self, task):
        pass

    def start_recording(self, region, time_bins):
        pass

    def look_at(self, stimuli, number_of_trials=1):
        import xarray as xr
        ids = list(stimuli['stimulus_id'].values)
        return xr.DataArray(np.stack([self.features[i] for i in ids]), dims=('presentation', 'neuroid'),
                            coords={'stimulus_id': ('presentation', ids)})


def damageable_copy(card, folder):
    """A copy of the data set whose card is ``card`` (the card's whole folder) in ``folder``/copy, for
    a test to damage; the copy's card path."""
    import shutil
    shutil.copytree(card.parent, folder / 'copy')
    return folder / 'copy' / card.name


def eeg_window(assembly, window=(0.0, 0.2), channels=None) -> np.ndarray:
    """Expected training targets, computed from a THINGS-EEG2 assembly (not through the package's
    DataSet path): repetition-averaged EEG -> images × (channels · times) in [start, end) seconds."""
    data = assembly.transpose('presentation', 'neuroid', 'time_bin').values
    times = assembly['time_bin_start'].values
    all_channels = list(assembly['channel'].values)
    keep = (times >= window[0] - 1e-9) & (times < window[1] - 1e-9)
    data = data[:, [all_channels.index(c) for c in (channels or all_channels)]][:, :, keep]
    return data.reshape(len(data), -1).astype(np.float32)
