"""Training data: the uint8 image cache and the EEG targets of one subject."""
import contextlib
import ctypes
import fcntl
import hashlib
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
from PIL import Image
from tqdm.auto import tqdm

from ..errors import RealnetError
from ..cache_files import append_record, kept
from ..files import atomic_path, partial_files, process_running, regular_file
from ..images import opened_image
from ..records import time_mask

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
LOCK_FILE = '.images.lock'


def cache_key(paths, size: int) -> str:
    """Changes with the image list, each file's size and modification time, and the pixel size."""
    digest = hashlib.sha1(f'{size}\n'.encode())
    for path in paths:
        stat = os.stat(path)
        digest.update(f'{Path(path).resolve()}\t{stat.st_size}\t{stat.st_mtime_ns}\n'.encode())
    return digest.hexdigest()


def image_cache(paths, size: int, cache_dir, workers: int | None = None, progress: bool = True) -> np.ndarray:
    """All images decoded once and resized to size×size: a read-only N×size×size×3 uint8 memmap.

    Decoding JPEGs every epoch would starve a GPU (docs/performance.md#input-side); the cache is built once,
    in parallel, written atomically and found again by its key, which the file also records after
    the pixels. A cache file that is not whole (truncated, not a cache of this shape, no record or
    another key's) is rebuilt; a FIFO, device, folder or dangling link in its place is refused.
    """
    paths = [Path(p) for p in paths]
    shape, key = (len(paths), size, size, 3), cache_key(paths, size)
    # 16 hex digits name the file, as before records were kept (an old cache is rebuilt in place, not
    # left behind); the record after the pixels holds all 40
    file = Path(cache_dir) / f'images-{size}px-{len(paths)}-{key[:16]}.npy'
    with _cache_lock(Path(cache_dir)):
        if not _is_whole_cache(file, shape, key):
            if file.exists():
                print(f'warning: {file}: not a whole image cache (truncated or damaged); rebuilding it',
                      file=sys.stderr, flush=True)
            _build_cache(file, paths, size, workers, progress, key)
    return np.load(file, mmap_mode='r')


@contextlib.contextmanager
def _cache_lock(cache_dir: Path):
    """Removes what killed cache builds left (``.images-*.partial``), then holds a shared lock while
    this process reads or builds. Every build holds the shared lock, so the partial files are
    removed only when the exclusive lock is free: when no build in any process is running. A lock
    file that is no regular file is refused unopened (opening a FIFO to write waits for a reader)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    regular_file(cache_dir / LOCK_FILE, 'lock file', missing_ok=True)
    with open(cache_dir / LOCK_FILE, 'a+') as lock:  # read and write: NFS wants both for flock
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            pass  # another process reads or builds a cache here: its partial file may be live
        else:
            for leftover in partial_files(cache_dir, 'images-*.npy'):
                leftover.unlink(missing_ok=True)
        fcntl.flock(lock, fcntl.LOCK_SH)
        yield


def _is_whole_cache(file: Path, shape, key: str) -> bool:
    """Whether ``file`` is a complete uint8 cache of ``shape`` recording ``key`` after its pixels (a
    killed copy or a full disk leaves a shorter file, which has no record)."""
    found = kept(file, 'image cache')
    return found is not None and found.shape == shape and found.dtype == np.uint8 and found.record == {'key': key}


def _build_cache(file: Path, paths: list[Path], size: int, workers: int | None, progress: bool, key: str):
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
        with open(partial, 'ab') as stream:
            append_record(stream, key=key)


def _decode_block(job):
    paths, size = job
    return np.stack([decode_image(path, size) for path in paths])


def decode_image(path, size: int) -> np.ndarray:
    with opened_image(path) as image:  # its size checked before decoding; damage is one line
        return np.asarray(image.convert('RGB').resize((size, size), Image.BILINEAR))


@contextlib.contextmanager
def _pool(workers: int):
    """Decoder processes (the built-in map for one). On an error or Ctrl-C they end at once: the
    blocks not yet started are dropped, those being decoded abandoned (shutdown would decode them)."""
    if workers == 1:
        yield SimpleNamespace(map=map)
        return
    pool = ProcessPoolExecutor(workers, initializer=_die_with_parent, initargs=(os.getpid(),))
    try:
        yield pool
    except BaseException:
        processes = list(pool._processes.values())  # Python 3.14 has pool.terminate_workers() for this
        pool.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            process.terminate()
        raise
    pool.shutdown()


def _die_with_parent(parent: int):
    """Decoder process start: have the kernel kill it when its parent dies (Linux), so a killed
    cache build leaves no orphaned decoder behind. A forked decoder inherits the command's SIGTERM
    handler, which raises (cli/exits.py): the pool would take that for a failed block and keep the
    process, which the parent ends with SIGTERM. The default ends it."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if sys.platform.startswith('linux'):
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if not process_running(parent):  # it died before prctl took effect
        os._exit(1)


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


def window_of(data: np.ndarray, times, all_channels: list, window=(0.0, 0.2), channels=None) -> np.ndarray:
    """images × channels × times -> images × (channels · times) of ``channels`` (default: all) in the
    window [start, end) seconds."""
    start, end = window
    keep_times = time_mask(times, start, end)
    if not keep_times.any():
        raise RealnetError(f'the EEG window {start}-{end} s holds no time points (data: {times[0]}-{times[-1]} s)')
    channels = list(channels or all_channels)
    unknown = [c for c in channels if c not in all_channels]
    if unknown:
        raise RealnetError(f'unknown EEG channels {unknown}; the data has {all_channels}')
    data = data[:, [all_channels.index(c) for c in channels]][:, :, keep_times]
    return data.reshape(len(data), -1).astype(np.float32)


