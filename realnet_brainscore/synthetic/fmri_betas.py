"""In-silico fMRI betas: a small data set in the ``fmri-betas`` card format (data/fmri_betas.py).

Writes, under ``out``:

- ``stimuli/<shape>/<number>.png``: procedural images (the package's in-silico shapes, lossless);
- ``betas/sub-01.npz`` (``np.savez``, array ``betas``), ``betas/sub-02.h5`` (h5py, dataset
  ``/betas``), alternating for further subjects: trials × voxels, float32;
- ``stimuli.tsv``: one row per trial (columns ``trial``, ``image``), every image ``repetitions``
  times in a seeded shuffled order, the same for every subject;
- ``rois/V1.npy`` (voxel column indices) and ``rois/LOC.npy`` (a boolean mask over the voxels);
- ``card.toml``: name InSilicoBetas, format fmri-betas, modality fMRI, a fixed set of test images.

The hidden brain (``HiddenBrain``) gives each image early features (local colour and edges) and late
ones (a second, pooled layer); V1 voxels weigh the early features, LOC voxels the late ones, the
remaining voxels only noise; each subject has its own weights, each trial its own noise. ROI RDMs
thus carry the images' structure, at two depths. Everything is seeded.
"""
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .. import bounds
from ..data.card import card_text
from ..errors import RealnetError
from ..files import atomic_path, new_folder
from . import SHAPES, HiddenBrain, _draw, _standardised

ROIS = ('V1', 'LOC')
ROI_FEATURES = {'V1': 'early', 'LOC': 'late'}
REGIONS = {'V1': 'V1', 'LOC': 'IT'}


@dataclass(frozen=True)
class BetasDesign:
    subjects: int = 2            # odd subjects as NPZ, even ones as HDF5
    images: int = 12
    test_images: int = 4         # every (images // test_images)-th image, from the first
    repetitions: int = 3         # trials of each image
    voxels_per_roi: int = 16
    other_voxels: int = 8        # voxels in no ROI: noise only
    image_size: int = 32
    noise: float = 1.0           # single-trial noise sd, relative to the signal's sd
    seed: int = 0


def write_fmri_betas(out, design: BetasDesign = BetasDesign()) -> Path:
    """Write the data set under ``out`` (absent or an empty folder); return its card's path."""
    _check_design(design)
    out = new_folder(out)
    rng = np.random.default_rng([design.seed, 5])
    names, pixels = _write_images(out / 'stimuli', design, rng)
    trial_images = rng.permutation(np.repeat(np.arange(design.images), design.repetitions))
    (out / 'stimuli.tsv').write_text('trial\timage\n' + ''.join(f'{trial + 1}\t{names[image]}\n'
                                                              for trial, image in enumerate(trial_images)))
    n_voxels = len(ROIS) * design.voxels_per_roi + design.other_voxels
    placement = rng.permutation(n_voxels)  # ROI voxels scattered over the columns, as in a brain's volume
    columns = {roi: np.sort(placement[k * design.voxels_per_roi:(k + 1) * design.voxels_per_roi])
               for k, roi in enumerate(ROIS)}
    (out / 'rois').mkdir()
    _save_npy(out / 'rois' / 'V1.npy', columns['V1'].astype(np.int64))  # an index list
    _save_npy(out / 'rois' / 'LOC.npy', np.isin(np.arange(n_voxels), columns['LOC']))  # a mask
    features = _standardised(HiddenBrain(design.seed).features(np.stack(pixels)))
    (out / 'betas').mkdir()
    for subject in range(1, design.subjects + 1):
        betas = _subject_betas(design, subject, features, columns, n_voxels)[trial_images]
        noise = np.random.default_rng([design.seed, 5, subject]).normal(size=betas.shape)
        _save_betas(out / 'betas', subject, (betas + design.noise * betas.std() * noise).astype(np.float32))
    test = [names[i] for i in range(0, design.images, design.images // design.test_images)][:design.test_images]
    return _write_card(out, test)


def _write_images(folder: Path, design: BetasDesign, rng) -> tuple[list, list]:
    """Images of ``design.images`` concepts, in subfolders by shape; names relative to ``folder``."""
    names, pixels = [], []
    for index in range(design.images):
        name = f'{SHAPES[index % len(SHAPES)]}/{index + 1:03d}.png'
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        _draw(index, rng, design.image_size).save(path)
        names.append(name)
        pixels.append(np.asarray(Image.open(path).convert('RGB')))  # what a reader will see
    return names, pixels


def _subject_betas(design: BetasDesign, subject: int, features: dict, columns: dict, n_voxels: int) -> np.ndarray:
    """images × voxels: each ROI's voxels weigh its features with the subject's own weights; others are 0."""
    weights_rng = np.random.default_rng([design.seed, 5, subject, 1])
    signal = np.zeros((design.images, n_voxels))
    for roi in ROIS:
        drive = features[ROI_FEATURES[roi]]
        weights = weights_rng.normal(size=(drive.shape[1], design.voxels_per_roi)) / np.sqrt(drive.shape[1])
        signal[:, columns[roi]] = drive @ weights
    return signal


def _save_betas(folder: Path, subject: int, betas: np.ndarray) -> None:
    import h5py
    if subject % 2:
        with atomic_path(folder / f'sub-{subject:02d}.npz') as partial, open(partial, 'wb') as stream:
            np.savez(stream, betas=betas)
    else:
        with atomic_path(folder / f'sub-{subject:02d}.h5') as partial, h5py.File(partial, 'w') as h5:
            h5.create_dataset('betas', data=betas)


def _save_npy(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as partial, open(partial, 'wb') as stream:
        np.save(stream, array, allow_pickle=False)


def _write_card(out: Path, test_images: list) -> Path:
    (out / 'card.toml').write_text(card_text({
        'name': 'InSilicoBetas', 'format': 'fmri-betas', 'modality': 'fMRI', 'path': 'betas', 'images': 'stimuli',
        'image_column': 'image', 'visual_degrees': 8.0, 'test_images': list(test_images),
        'fmri': {'table': 'stimuli.tsv', 'rois': {roi: f'rois/{roi}.npy' for roi in ROIS}, 'regions': dict(REGIONS)}}))
    return out / 'card.toml'


def _check_design(design: BetasDesign) -> None:
    """The numbers of ``design``, refused before anything is written."""
    if not 1 <= design.subjects <= bounds.SUBJECTS:
        raise RealnetError(f'`subjects` {design.subjects}: expected 1 to {bounds.SUBJECTS}')
    if not 1 <= design.test_images < design.images:
        raise RealnetError(f'`test_images` {design.test_images}: expected 1 to `images` - 1 ({design.images - 1})')
    if design.repetitions < 1 or design.voxels_per_roi < 2 or design.other_voxels < 0:
        raise RealnetError('`repetitions` ≥ 1, `voxels_per_roi` ≥ 2 and `other_voxels` ≥ 0 expected')
    if not (np.isfinite(design.noise) and design.noise >= 0) or design.seed < 0:
        raise RealnetError(f'`noise` {design.noise} and `seed` {design.seed}: expected numbers ≥ 0')
    bounds.check_at_most(design.image_size, bounds.IMAGE_SIZE, '`image_size`')
    bounds.check_at_most(design.images, bounds.SYNTH_IMAGES, '`images`')
