"""Training data: the uint8 image cache and the EEG targets of one subject."""
import hashlib
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from ..errors import RealnetError
from ..files import atomic_path

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def cache_key(paths, size: int) -> str:
    """Changes with the image list, each file's size and modification time, and the pixel size."""
    digest = hashlib.sha1(f'{size}\n'.encode())
    for path in paths:
        stat = os.stat(path)
        digest.update(f'{Path(path).resolve()}\t{stat.st_size}\t{stat.st_mtime_ns}\n'.encode())
    return digest.hexdigest()[:16]


def image_cache(paths, size: int, cache_dir, workers: int | None = None, progress: bool = True) -> np.ndarray:
    """All images decoded once and resized to size×size: a read-only N×size×size×3 uint8 memmap.

    Decoding JPEGs every epoch would starve a GPU (shared PERFORMANCE.md); the cache is built once,
    in parallel, written atomically and found again by its key.
    """
    paths = [Path(p) for p in paths]
    file = Path(cache_dir) / f'images-{size}px-{len(paths)}-{cache_key(paths, size)}.npy'
    if not file.is_file():
        with atomic_path(file) as partial:
            pixels = np.lib.format.open_memmap(partial, mode='w+', dtype=np.uint8, shape=(len(paths), size, size, 3))
            workers = workers or os.cpu_count() or 1
            chunk = 64
            jobs = [(paths[i:i + chunk], size) for i in range(0, len(paths), chunk)]
            bar = tqdm(total=len(paths), desc='image cache', unit='img', disable=not progress)
            with _pool(workers if len(paths) > chunk else 1) as pool:
                for index, block in enumerate(pool.map(_decode_block, jobs)):
                    pixels[index * chunk:index * chunk + len(block)] = block
                    bar.update(len(block))
            bar.close()
            pixels.flush()
            del pixels
    return np.load(file, mmap_mode='r')


def _decode_block(job):
    paths, size = job
    return np.stack([decode_image(path, size) for path in paths])


def decode_image(path, size: int) -> np.ndarray:
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert('RGB').resize((size, size), Image.BILINEAR))
    except Exception as error:
        raise RealnetError(f'{path}: unreadable image ({type(error).__name__}: {error})') from None


class _Serial:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    map = staticmethod(map)


def _pool(workers: int):
    return ProcessPoolExecutor(workers) if workers > 1 else _Serial()


def to_input(pixels: np.ndarray, device, channels_last: bool = False) -> torch.Tensor:
    """uint8 N×H×W×3 -> normalised float N×3×H×W on ``device`` (normalised there, not on the CPU)."""
    batch = torch.from_numpy(np.ascontiguousarray(pixels))
    if batch.device != torch.device(device) and torch.device(device).type == 'cuda':
        batch = batch.pin_memory()
    batch = batch.to(device, non_blocking=True).permute(0, 3, 1, 2).float()
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1) * 255
    batch = (batch - mean) / std
    return batch.contiguous(memory_format=torch.channels_last) if channels_last else batch.contiguous()


def eeg_window(assembly, window=(0.0, 0.2), channels=None) -> np.ndarray:
    """Repetition-averaged EEG -> images × (channels · times) in the window [start, end) seconds."""
    start, end = window
    times = assembly['time_bin_start'].values
    keep_times = (times >= start - 1e-9) & (times < end - 1e-9)
    if not keep_times.any():
        raise RealnetError(f'the EEG window {start}-{end} s holds no time points (data: {times[0]}-{times[-1]} s)')
    all_channels = list(assembly['channel'].values)
    channels = list(channels or all_channels)
    unknown = [c for c in channels if c not in all_channels]
    if unknown:
        raise RealnetError(f'unknown EEG channels {unknown}; the data has {all_channels}')
    data = assembly.transpose('presentation', 'neuroid', 'time_bin').values
    data = data[:, [all_channels.index(c) for c in channels]][:, :, keep_times]
    return data.reshape(len(data), -1).astype(np.float32)
