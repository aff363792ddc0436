"""In-silico subjects: a miniature THINGS-EEG2 release written in the published file formats.

Images are procedural (one colour, shape and texture per concept; position, size and noise per
image). A hidden "brain" turns each image into EEG: a fixed random convolutional network gives
early features (local colour and edges) and late features (a second, pooled layer); early features
drive the channels around 90 ms, late ones around 170 ms; each subject mixes them into the 17
channels with its own weights; every repetition adds its own noise. Everything is seeded.

``Design.scales`` says how the EEG's scale varies (see ``SCALES``): 'flat' (the default) draws
noise of one sd, relative to the signal, on every channel and time point; 'recorded' is the EEG as
THINGS-EEG2 releases it, after multivariate noise normalisation: noise whitened, sd 1 on every
channel and time point, while the signal's strength varies as in real recordings, over time (the
hidden brain's profiles: zero before the image, peaks at 90 and 170 ms) and over channels (each
subject's channel gains drawn log-uniform over a factor of 10, 10^U(-0.5, 0.5)). Each channel ×
time point's total scale, sqrt(1 + signal variance), thus varies as it does in the released arrays,
which is what standardising (things_eeg2.standardise) changes and the raw form keeps.
"""
import math
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch.nn import functional as F

from .. import bounds
from ..data.things_eeg2 import CHANNELS, subject_name
from ..errors import RealnetError
from ..files import atomic_path, new_folder

TIMES = np.round(np.arange(-20, 80) / 100, 2)  # -0.20 ... 0.79 s, 100 Hz, as published
COLOURS = [(220, 40, 40), (40, 170, 60), (40, 80, 220), (230, 200, 40), (160, 60, 200), (40, 200, 210),
           (240, 130, 30), (120, 120, 120)]
SHAPES = ['circle', 'square', 'triangle', 'bar']
EARLY_PEAK, LATE_PEAK = 0.09, 0.17  # seconds
SCALES = ('flat', 'recorded')  # Design.scales: see the module's docstring
GAIN_RANGE = 10.0  # 'recorded': the largest channel gain over the smallest, at most


@dataclass(frozen=True)
class Design:
    subjects: int = 2
    concepts: int = 40            # training concepts
    images_per_concept: int = 5
    test_images: int = 20         # one image of each of this many further concepts
    train_repetitions: int = 4
    test_repetitions: int = 80
    image_size: int = 64          # pixels (the release's images are 500)
    noise: float = 2.0            # single-trial noise sd, relative to the signal's sd over 0-300 ms
    seed: int = 0
    scales: str = 'flat'          # SCALES: 'recorded' = whitened noise, signal varying over channels and time


def write_things_eeg2(out, design: Design = Design(), progress=None) -> Path:
    """Write ``image_set/`` and ``preprocessed_data/sub-XX/`` under ``out``; return ``out``."""
    _check_design(design)
    out = new_folder(out)
    rng = np.random.default_rng(design.seed)
    splits = {'train': _write_images(out, 'training_images', design.concepts, design.images_per_concept, 0,
                                     'b', design, rng),
              'test': _write_images(out, 'test_images', design.test_images, 1, design.concepts, 's', design, rng)}
    metadata = {}
    for split, (concepts, files, _) in splits.items():
        metadata[f'{split}_img_concepts'] = concepts
        metadata[f'{split}_img_files'] = files
        metadata[f'{split}_img_concepts_THINGS'] = list(concepts)
    _save_dict(out / 'image_set' / 'image_metadata.npy', metadata)

    brain = HiddenBrain(design.seed)
    features = {split: brain.features(images) for split, (_, _, images) in splits.items()}
    # Standardise with the training images so both splits live on one scale.
    mean = {k: v.mean(0) for k, v in features['train'].items()}
    std = {k: v.std(0) + 1e-6 for k, v in features['train'].items()}
    for subject in range(1, design.subjects + 1):
        mixing = brain.subject_mixing(subject)
        for split, file, repetitions in (('train', 'preprocessed_eeg_training.npy', design.train_repetitions),
                                         ('test', 'preprocessed_eeg_test.npy', design.test_repetitions)):
            standard = {k: (v - mean[k]) / std[k] for k, v in features[split].items()}
            signal = brain.evoked(standard, mixing)  # images × channels × times
            noise_rng = np.random.default_rng([design.seed, subject, repetitions])
            signal, scale = _scaled(signal, design, subject)
            trials = signal[:, None] + noise_rng.normal(0, scale, (signal.shape[0], repetitions) + signal.shape[1:])
            _save_dict(out / 'preprocessed_data' / subject_name(subject) / file,
                       {'preprocessed_eeg_data': trials, 'ch_names': list(CHANNELS), 'times': TIMES.copy()})
        if progress:
            progress(subject)
    return out


def release_subjects(release, subjects=None) -> list[int]:
    """``subjects`` (numbers), or every subject an in-silico release holds; refused when there are none."""
    from ..data.things_eeg2 import available_subjects
    subjects = list(subjects) if subjects is not None else available_subjects(release)
    if not subjects:
        raise RealnetError(f'{release}: no THINGS-EEG2 subjects to write')
    return subjects


def image_name(release, path) -> str:
    """An image's name under a release's image_set (and under a data set's ``stimuli/``), '/'-separated."""
    return Path(path).resolve().relative_to((Path(release) / 'image_set').resolve()).as_posix()


def copy_release_images(release, stimuli) -> dict:
    """Copy a release's images of each split to ``stimuli`` under their image_set names; split -> names."""
    import shutil
    from ..data.things_eeg2 import SPLITS, image_paths
    names = {}
    for split in SPLITS:
        names[split] = [image_name(release, path) for path in image_paths(release, split)]
        for name, path in zip(names[split], image_paths(release, split)):
            (Path(stimuli) / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, Path(stimuli) / name)
    return names


class HiddenBrain:
    """Fixed random features of an image and how a subject's channels respond to them."""

    def __init__(self, seed: int):
        generator = torch.Generator().manual_seed(seed + 7919)
        self.early = torch.randn(8, 3, 5, 5, generator=generator) / math.sqrt(75)
        self.late = torch.randn(12, 8, 3, 3, generator=generator) / math.sqrt(72)
        self.seed = seed

    @torch.no_grad()
    def features(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """``images``: N×H×W×3 uint8 -> {'early': N×32 (4 quadrants × 8 maps), 'late': N×12}."""
        x = torch.from_numpy(images).permute(0, 3, 1, 2).float().div(255).sub(0.5)
        x = F.interpolate(x, size=(32, 32), mode='area')
        early = F.relu(F.conv2d(x, self.early, padding=2))
        late = F.relu(F.conv2d(F.max_pool2d(early, 2), self.late, padding=1)).square()
        return {'early': F.adaptive_avg_pool2d(early, 2).flatten(1).numpy().astype(np.float64),
                'late': late.mean((2, 3)).numpy().astype(np.float64)}

    def subject_mixing(self, subject: int) -> dict[str, np.ndarray]:
        """Channel weights: shared across subjects plus a subject's own part."""
        shared, own = np.random.default_rng([self.seed, 0]), np.random.default_rng([self.seed, subject])
        return {name: shared.normal(size=(len(CHANNELS), n)) + 0.6 * own.normal(size=(len(CHANNELS), n))
                for name, n in (('early', 32), ('late', 12))}

    @staticmethod
    def evoked(features, mixing) -> np.ndarray:
        profiles = {'early': np.exp(-0.5 * ((TIMES - EARLY_PEAK) / 0.025) ** 2),
                    'late': np.exp(-0.5 * ((TIMES - LATE_PEAK) / 0.04) ** 2)}
        return sum(np.einsum('nk,ck,t->nct', features[name], mixing[name] / math.sqrt(mixing[name].shape[1]),
                             profiles[name]) for name in ('early', 'late'))


def channel_gains(seed: int, subject: int) -> np.ndarray:
    """A subject's 17 channel gains of the 'recorded' scales: log-uniform over GAIN_RANGE."""
    half = math.log10(GAIN_RANGE) / 2
    return 10 ** np.random.default_rng([seed, subject, 17]).uniform(-half, half, len(CHANNELS))


def _scaled(signal: np.ndarray, design: Design, subject: int) -> tuple[np.ndarray, float]:
    """(signal, noise sd) of a subject as ``design.scales`` has them: 'flat', the noise sd is
    ``design.noise`` × the signal's sd over 0-300 ms; 'recorded', the noise sd is 1 (whitened) and
    the signal, of sd 1 / ``design.noise`` over 0-300 ms, is multiplied by the channel gains."""
    spread = signal[..., (TIMES >= 0) & (TIMES < 0.3)].std()
    if design.scales == 'flat':
        return signal, design.noise * spread
    gains = channel_gains(design.seed, subject)[:, None]
    return signal / (spread or 1.0) / (design.noise or 1.0) * gains, 1.0 if design.noise else 0.0


def _write_images(out, folder, n_concepts, per_concept, first, suffix, design, rng):
    concepts, files, pixels = [], [], []
    for index in range(first, first + n_concepts):
        concept = f'{index + 1:05d}_{SHAPES[index % 4]}_{index // 4 % len(COLOURS)}_{index // 32}'
        for j in range(per_concept):
            name = f'{concept[6:]}_{j + 1:02d}{suffix}.jpg'
            image = _draw(index, rng, design.image_size)
            path = out / 'image_set' / folder / concept / name
            path.parent.mkdir(parents=True, exist_ok=True)
            image.save(path, quality=92)
            concepts.append(concept)
            files.append(name)
            pixels.append(np.asarray(Image.open(path).convert('RGB')))  # what a reader will see
    return concepts, files, np.stack(pixels)


def _draw(concept: int, rng, size: int) -> Image.Image:
    colour = np.array(COLOURS[concept // 4 % len(COLOURS)])
    background = rng.integers(0, 256, 3) // 2 + 64
    stripes = (concept // 32) % 2 == 1  # texture: plain or striped background
    image = Image.new('RGB', (size, size), tuple(int(v) for v in background))
    draw = ImageDraw.Draw(image)
    if stripes:
        for x in range(0, size, max(2, size // 8)):
            draw.line([(x, 0), (x, size)], fill=tuple(int(v) for v in background // 2), width=max(1, size // 32))
    radius = size * rng.uniform(0.15, 0.3)
    cx, cy = size * rng.uniform(0.3, 0.7, 2)
    fill = tuple(int(v) for v in np.clip(colour + rng.normal(0, 20, 3), 0, 255))
    box = [cx - radius, cy - radius, cx + radius, cy + radius]
    shape = SHAPES[concept % 4]
    if shape == 'circle':
        draw.ellipse(box, fill=fill)
    elif shape == 'square':
        draw.rectangle(box, fill=fill)
    elif shape == 'triangle':
        draw.polygon([(cx, cy - radius), (cx - radius, cy + radius), (cx + radius, cy + radius)], fill=fill)
    else:
        draw.rectangle([cx - radius, cy - radius / 3, cx + radius, cy + radius / 3], fill=fill)
    noise = rng.normal(0, 8, (size, size, 3))
    return Image.fromarray(np.clip(np.asarray(image) + noise, 0, 255).astype(np.uint8))


def _check_design(design: Design) -> None:
    """The numbers of ``design``, refused before anything is written."""
    if not 1 <= design.subjects <= 10:
        raise RealnetError(f'`subjects` {design.subjects}: THINGS-EEG2 has subjects 1 to 10')
    if not (math.isfinite(design.noise) and design.noise >= 0):
        raise RealnetError(f'`noise` {design.noise}: expected a number ≥ 0 (the noise sd relative to the signal)')
    if design.scales not in SCALES:
        raise RealnetError(f'`scales` {design.scales!r}: choose {" or ".join(SCALES)}')
    if design.seed < 0:
        raise RealnetError(f'`seed` {design.seed}: expected a whole number ≥ 0')
    bounds.check_at_most(design.image_size, bounds.IMAGE_SIZE, '`image_size`')
    images = design.concepts * design.images_per_concept + design.test_images
    bounds.check_at_most(images, bounds.SYNTH_IMAGES, 'images (`concepts` × `images_per_concept` + `test_images`)')


def _save_dict(path: Path, content: dict) -> None:
    with atomic_path(path) as partial:
        with open(partial, 'wb') as stream:
            np.save(stream, content, allow_pickle=True)


# Shen et al. 2019 layout ---------------------------------------------------------------------------
# How much of each ROI's signal comes from the late (deep) features; the rest from the early ones.
SHEN_DEPTH = {'V1': 0.0, 'V2': 0.1, 'V3': 0.3, 'V4': 0.6, 'LOC': 1.0, 'FFA': 1.0, 'PPA': 1.0}


@dataclass(frozen=True)
class ShenDesign:
    subjects: int = 3
    voxels_per_roi: int = 40
    image_size: int = 64
    noise: float = 1.5          # single-presentation noise sd, relative to the signal's sd
    old_spelling: bool = False  # /dataSet, /metaData and ROI_hV4, as in older releases
    seed: int = 0
    train_images: int = 120     # training session (the release: 1200 images × 5)
    train_repetitions: int = 2


class ShenSession(NamedTuple):
    names: list                 # image names, in image_index order
    features: dict              # the hidden brain's features of the images, standardised over them
    repetitions: int


def write_shen2019(out, design: ShenDesign = ShenDesign()) -> Path:
    """Write the Shen 2019 layout under ``out``: per subject the test and training bdpy h5, the test
    tsv, and ``images/`` holding both sessions' images."""
    from ..data.shen2019 import TEST_IMAGES, TEST_REPETITIONS, TSV
    bounds.check_at_most(design.image_size, bounds.IMAGE_SIZE, '`image_size`')
    bounds.check_at_most(design.train_images, bounds.SYNTH_IMAGES, '`train_images`')
    out = new_folder(out)
    (out / 'images').mkdir(parents=True)
    brain = HiddenBrain(design.seed)
    rng = np.random.default_rng([design.seed, 2019])
    test_names, test_pixels = [], []
    for index in range(TEST_IMAGES):
        test_names.append(f'n{1000000 + 7919 * index:08d}_{int(rng.integers(1, 99999))}')
        test_pixels.append(_write_shen_image(out, test_names[-1], index, rng, design.image_size))
    (out / TSV).write_text(''.join(f'{name}\t{i + 1}\n' for i, name in enumerate(test_names)))
    # Training images and noise draw from their own generators, so the test session stays as it was.
    training_rng = _shen_training_rng(design, 0)
    # 64 concepts (shape × colour × texture), several images of each, as ImageNet's categories
    training_names = [f'n{2000000 + 7919 * (i % 64):08d}_{i + 1}' for i in range(design.train_images)]
    training_pixels = [_write_shen_image(out, name, i % 64, training_rng, design.image_size)
                       for i, name in enumerate(training_names)]
    sessions = [ShenSession(names, _standardised(brain.features(np.stack(pixels))), repetitions)
                for names, pixels, repetitions in ((test_names, test_pixels, TEST_REPETITIONS),
                                                   (training_names, training_pixels, design.train_repetitions))]
    for subject in range(1, design.subjects + 1):
        _write_shen_subject(out, subject, design, *sessions)
    return out


def _shen_training_rng(design: ShenDesign, subject: int):
    """The training session's generator: images (subject 0), a subject's noise. Ends in 1, not 0:
    numpy's seeding pads with zeros, so [seed, 2019, s, 0] would repeat the test draws of [seed, 2019, s]."""
    return np.random.default_rng([design.seed, 2019, subject, 1])


def _write_shen_image(out: Path, name: str, concept: int, rng, size: int) -> np.ndarray:
    path = out / 'images' / f'{name}.JPEG'
    _draw(concept, rng, size).save(path, quality=92)
    return np.asarray(Image.open(path).convert('RGB'))  # what a reader will see


def _standardised(features: dict) -> dict:
    return {k: (v - v.mean(0)) / (v.std(0) + 1e-6) for k, v in features.items()}


def _write_shen_subject(out, subject: int, design: ShenDesign, test: ShenSession, training: ShenSession) -> None:
    """Both sessions of one subject: one set of voxel weights on the hidden brain, the sessions'
    own presentation orders and noise."""
    import h5py
    from ..data.shen2019 import h5_path, training_h5_path
    voxel_rng = np.random.default_rng([design.seed, 2019, subject])
    weights = {roi: (voxel_rng.normal(size=(32, design.voxels_per_roi)),
                     voxel_rng.normal(size=(12, design.voxels_per_roi))) for roi in SHEN_DEPTH}
    rois = {roi: np.arange(k * design.voxels_per_roi, (k + 1) * design.voxels_per_roi)
            for k, roi in enumerate(SHEN_DEPTH)}
    rois['HVC'] = np.concatenate([rois['LOC'], rois['FFA'], rois['PPA']])
    rois['LVC'] = np.concatenate([rois['V1'], rois['V2'], rois['V3']])
    rois['VC'] = np.arange(len(SHEN_DEPTH) * design.voxels_per_roi)
    for path, session, noise_rng in ((h5_path(out, subject), test, voxel_rng),
                                     (training_h5_path(out, subject), training, _shen_training_rng(design, subject))):
        signal = np.concatenate([(1 - depth) * (session.features['early'] @ weights[roi][0] / np.sqrt(32))
                                 + depth * (session.features['late'] @ weights[roi][1] / np.sqrt(12))
                                 for roi, depth in SHEN_DEPTH.items()], axis=1)  # images × voxels
        order = np.concatenate([noise_rng.permutation(len(session.names)) for _ in range(session.repetitions)])
        samples = signal[order] + noise_rng.normal(0, design.noise * signal.std(), (len(order), signal.shape[1]))
        runs = np.repeat(np.arange(1, session.repetitions + 1), len(session.names))
        _write_bdpy(path, samples, rois, order + 1, [session.names[i] for i in order], runs, design.old_spelling, h5py)


def _write_bdpy(path, voxels, rois, image_index, stimulus_names, runs, old_spelling, h5py):
    n_voxels = voxels.shape[1]
    stimulus_ids = [int(name[1:9]) + int(name.split('_')[1]) / 1e6 for name in stimulus_names]
    data = np.column_stack([voxels, image_index, stimulus_ids, runs]).astype(np.float64)
    keys, descriptions, rows = ['voxel_data'], ['1 = voxel data'], [np.arange(n_voxels)]
    for roi, columns in rois.items():
        keys.append('ROI_hV4' if roi == 'V4' and old_spelling else f'ROI_{roi}')
        descriptions.append(f'1 = ROI {roi}')
        rows.append(columns)
    for offset, key in enumerate(('image_index', 'stimulus_id', 'Run')):
        keys.append(key)
        descriptions.append(f'1 = {key}')
        rows.append([n_voxels + offset])
    values = np.full((len(keys), data.shape[1]), np.nan)
    for row, columns in enumerate(rows):
        values[row, columns] = 1
    with atomic_path(path) as partial, h5py.File(partial, 'w') as h5:
        h5.create_dataset('dataSet' if old_spelling else 'dataset', data=data)
        metadata = h5.create_group('metaData' if old_spelling else 'metadata')
        metadata.create_dataset('key', data=np.array([k.encode() for k in keys]))
        metadata.create_dataset('description', data=np.array([d.encode() for d in descriptions]))
        metadata.create_dataset('value', data=values)


def insilico_cornet(image_paths, size: int, seed: int = 0):
    """A CORnet-S with random weights whose batch-norm statistics are those of ``image_paths``, as a
    trained network's would be: the offline stand-in for the ImageNet CORnet-S (without it, the first
    training steps mostly re-estimate the statistics)."""
    from ..cornet import CORnetS
    torch.manual_seed(seed)
    return calibrated(CORnetS(), image_paths, size)


def calibrated(model: torch.nn.Module, image_paths, size: int) -> torch.nn.Module:
    """``model`` with each batch norm's running statistics set to those of the images, in eval mode."""
    from ..training.data import decode_image, to_input
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # cumulative average over the calibration batch
    with torch.no_grad():
        model.train()(to_input(np.stack([decode_image(p, size) for p in image_paths]), 'cpu'))
    for norm in norms:
        norm.momentum = 0.1
    return model.eval()
