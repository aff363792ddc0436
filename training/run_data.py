"""A run's data on the device: the z-scored targets of its subject (or group) and the image cache,
split into the training part and the part that selects the epoch, with a fingerprint of both."""
import hashlib
from pathlib import Path

import numpy as np
import torch

from ..errors import RealnetError
from .data import image_cache, to_input
from .targets import reduced, responses, side_by_side, zscore_statistics


class RunData:
    """``train`` and ``validation`` (what selects the epoch: held-out training images, or the test
    images with ``select_on='test'``), the z-score ``mean`` and ``std``, and the ``fingerprint``."""

    def __init__(self, source, recipe, runtime, world, device):
        recipe = recipe.resolved()
        found = responses(source, recipe)
        train, validation = split(len(found.image_paths), recipe)
        values = [reduced(v, train) for v in found.subjects] if source.modality == 'fMRI' else found.subjects
        statistics = [zscore_statistics(v, train, recipe.zscore) for v in values]
        self.mean, self.std = side_by_side(statistics, [v.shape[1] for v in values])
        pixels = _images(found.image_paths, recipe, runtime, world)
        targets = self._zscored(values, device)
        self.train = Part(train, pixels, targets, device)
        self.validation = Part(validation, pixels, targets, device)
        paths, arrays = found.image_paths, found.subjects
        if recipe.select_on == 'test':
            test = responses(source, recipe, 'test')
            self.validation = Part(np.arange(len(test.image_paths)), _images(test.image_paths, recipe, runtime, world),
                                   self._zscored(test.subjects, device), device)
            paths, arrays = paths + test.image_paths, arrays + test.subjects
        self.image_paths = found.image_paths
        self.fingerprint = fingerprint(paths, np.concatenate([a.ravel() for a in arrays]))

    def _zscored(self, values: list[np.ndarray], device) -> torch.Tensor:
        return torch.from_numpy((np.concatenate(values, axis=1) - self.mean) / self.std).to(device)


def split(n: int, recipe):
    """(training rows, held-out rows); with select_on test, as the authors: every image trains."""
    if recipe.select_on == 'test':
        return np.arange(n), np.arange(0)
    n_validation = max(1, round(recipe.validation_fraction * n))
    if n - n_validation < 2:
        raise RealnetError(f'{n} training images are too few to hold out {n_validation} for validation')
    permutation = np.random.default_rng(recipe.seed).permutation(n)
    return np.sort(permutation[n_validation:]), np.sort(permutation[:n_validation])


def _images(paths: list[str], recipe, runtime, world) -> np.ndarray:
    """The uint8 cache of the images (built by rank 0, then read by every process)."""
    if world.rank == 0:
        pixels = image_cache(paths, recipe.image_size, runtime.image_cache, runtime.workers, runtime.progress)
    world.barrier()
    return pixels if world.rank == 0 else image_cache(paths, recipe.image_size, runtime.image_cache, 1, False)


class Part:
    """Rows ``indices`` of one image set and its targets."""

    def __init__(self, indices: np.ndarray, pixels: np.ndarray, targets: torch.Tensor, device):
        self.indices, self.pixels, self.targets, self.device = indices, pixels, targets, torch.device(device)
        self._teacher, self._taught = None, np.zeros(len(pixels), dtype=bool)  # logits kept, and of which rows

    def __len__(self):
        return len(self.indices)

    def images(self, indices: np.ndarray, channels_last: bool) -> torch.Tensor:
        """The normalised images of ``indices`` (sorted: memmap reads in file order), on the device."""
        return to_input(self.pixels[np.sort(indices)], self.device, channels_last)

    def teacher_logits(self, indices: np.ndarray, images: torch.Tensor, teacher) -> torch.Tensor:
        """``teacher(images)`` for the images of ``indices`` (as ``images`` gives them), run the first
        time a batch holds an image not yet seen and kept, then read: the teacher is frozen (eval
        mode, no gradient), so from epoch 2 on a step costs no teacher pass. The values are those it
        gave in the batch that first held the image; on the CPU a batch of the same size gives the
        same bits, one of another size (an epoch's last, shorter batch) can differ in the last bits
        (7e-9 measured, batch 1 against 8): an argmax target moves only where two logits tie that closely."""
        rows = np.sort(indices)
        if self._taught[rows].all():  # a NumPy mask: no device synchronisation
            return self._teacher[torch.from_numpy(rows).to(self.device)]
        logits = teacher(images)
        if self._teacher is None:
            self._teacher = torch.empty(len(self.pixels), *logits.shape[1:], dtype=logits.dtype, device=logits.device)
        new = ~self._taught[rows]  # an image keeps what the teacher gave it first
        self._teacher[torch.from_numpy(rows[new]).to(logits.device)] = logits[torch.from_numpy(new).to(logits.device)]
        self._taught[rows] = True
        return logits

    def targets_of(self, indices: np.ndarray) -> torch.Tensor:
        """The targets of ``indices``, in the order of ``images``."""
        return self.targets[torch.from_numpy(np.sort(indices)).to(self.device)]


def fingerprint(paths, targets) -> str:
    """Of the image names (split/concept/file, not where the release lies) and the targets."""
    digest = hashlib.sha1('\n'.join('/'.join(Path(p).parts[-3:]) for p in paths).encode())
    digest.update(np.ascontiguousarray(targets).tobytes())
    return digest.hexdigest()[:16]
