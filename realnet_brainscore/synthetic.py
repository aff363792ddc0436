"""In-silico subjects: a miniature THINGS-EEG2 release written in the published file formats.

Images are procedural (one colour, shape and texture per concept; position, size and noise per
image). A hidden "brain" turns each image into EEG: a fixed random convolutional network gives
early features (local colour and edges) and late features (a second, pooled layer); early features
drive the channels around 90 ms, late ones around 170 ms; each subject mixes them into the 17
channels with its own weights; every repetition adds its own noise. Everything is seeded.
"""
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch.nn import functional as F

from .data.things_eeg2 import CHANNELS, subject_name
from .errors import RealnetError
from .files import atomic_path

TIMES = np.round(np.arange(-20, 80) / 100, 2)  # -0.20 ... 0.79 s, 100 Hz, as published
COLOURS = [(220, 40, 40), (40, 170, 60), (40, 80, 220), (230, 200, 40), (160, 60, 200), (40, 200, 210),
           (240, 130, 30), (120, 120, 120)]
SHAPES = ['circle', 'square', 'triangle', 'bar']
EARLY_PEAK, LATE_PEAK = 0.09, 0.17  # seconds


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


def write_things_eeg2(out, design: Design = Design(), progress=None) -> Path:
    """Write ``image_set/`` and ``preprocessed_data/sub-XX/`` under ``out``; return ``out``."""
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise RealnetError(f'{out} exists and is not an empty folder; choose a new --out')
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
            scale = design.noise * signal[..., (TIMES >= 0) & (TIMES < 0.3)].std()
            trials = signal[:, None] + noise_rng.normal(0, scale, (signal.shape[0], repetitions) + signal.shape[1:])
            _save_dict(out / 'preprocessed_data' / subject_name(subject) / file,
                       {'preprocessed_eeg_data': trials, 'ch_names': list(CHANNELS), 'times': TIMES.copy()})
        if progress:
            progress(subject)
    return out


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


def _save_dict(path: Path, content: dict) -> None:
    with atomic_path(path) as partial:
        with open(partial, 'wb') as stream:
            np.save(stream, content, allow_pickle=True)
