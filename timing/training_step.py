"""Throughput of the trainer, beside the published step measured in the same run.

    python timing/training_step.py --anchor PATH/anchor_step.py [--quick]

Prints images/s of: the published training step (``anchor_step.py``'s reference variant and its
backbone-only limit, run as a subprocess), this trainer's step from a uint8 image cache at each
``--batches`` size (and with ``--compile reduce-overhead`` on CUDA), and the image-cache build from
500×500 JPEGs; then each as a ratio to the published step. Last, ``--subjects`` students trained
together (``train --together``: one shared batch, one teacher pass) beside one subject at a time, in
subject-images/s, and their ratio: each together step is timed beside as many single-subject steps
taken right after it. ``--quick``: tiny sizes on the CPU (three students).

The anchor script prints one line ``RESULT name: N img/s | ...`` whose first name starting with
``reference`` is the published step; names starting with ``limit`` are shown beside it.
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from realnet_brainscore.cli.options import positive
from realnet_brainscore.cornet import CORnetS
from realnet_brainscore.errors import RealnetError
from realnet_brainscore.training import Recipe
from realnet_brainscore.training.allocator import keep_freed_memory
from realnet_brainscore.training.data import image_cache, to_input
from realnet_brainscore.training.objective import Aligner


def anchor_rates(anchor: Path, quick: bool, batch: int) -> dict[str, float]:
    """Run anchor_step.py and read its 'RESULT name: N img/s | ...' line."""
    if not anchor.is_file():
        raise RealnetError(f'{anchor}: anchor script not found')
    command = [sys.executable, str(anchor), '--batches', str(batch)] + (['--quick'] if quick else [])
    result = subprocess.run(command, capture_output=True, text=True)
    line = next((l for l in result.stdout.splitlines() if l.startswith('RESULT ')), None)
    if result.returncode or line is None:
        raise RealnetError(f'{anchor} failed: {(result.stderr or result.stdout).strip().splitlines()[-1:]}')
    return {name.strip(): float(rate) for name, rate in re.findall(r'([^|:]+): ([\d.]+) img/s', line[7:])}


def training_step(batch: int, image_size: int, device, subjects: int = 1, compile_mode: str = 'none'):
    """``step()``: one full training step (cache -> GPU normalise -> teacher -> student+head ->
    Adam) for ``subjects`` students sharing the batch and one teacher pass, stepped one after
    another as ``--together`` steps them; it returns the step's seconds."""
    recipe = Recipe(image_size=image_size, batch_size=batch, compile=compile_mode)
    aligners = [Aligner(CORnetS(), 340, recipe, device) for _ in range(subjects)]
    rng = np.random.default_rng(0)
    cache = rng.integers(0, 256, (batch * 4, image_size, image_size, 3), dtype=np.uint8)
    eeg = torch.randn(batch * 4, 340)
    cuda = torch.device(device).type == 'cuda'

    def step() -> float:
        indices = np.sort(rng.choice(len(cache), batch, replace=False))
        began = time.perf_counter()
        x = to_input(cache[indices], device, channels_last=cuda)
        target = eeg[indices].to(device, non_blocking=True)
        teacher_logits = aligners[0].teacher_logits(x)
        for aligner in aligners:
            aligner.train_step(target, x, teacher_logits)
        if cuda:
            torch.cuda.synchronize()
        return time.perf_counter() - began

    return step


def step_rate(batch: int, image_size: int, device, steps: int, warmup: int, compile_mode: str = 'none') -> float:
    """Images/s of one subject's training step (the median step)."""
    step = training_step(batch, image_size, device, compile_mode=compile_mode)
    seconds = [step() for _ in range(warmup + steps)][warmup:]
    return batch / statistics.median(seconds)


def together_rates(batch: int, image_size: int, device, steps: int, warmup: int, subjects: int) -> tuple[float, float]:
    """Subject-images/s of ``subjects`` students stepped together and of one subject stepped as many
    times, (together, one at a time). Each together step is followed by its single-subject steps,
    so that a machine busy with other work slows both alike (a shared CPU's speed drifts by a
    quarter within minutes)."""
    together, alone = training_step(batch, image_size, device, subjects), training_step(batch, image_size, device)
    pairs = [(together(), sum(alone() for _ in range(subjects))) for _ in range(warmup + steps)][warmup:]
    images = subjects * batch
    return images / statistics.median(t for t, _ in pairs), images / statistics.median(a for _, a in pairs)


def cache_rate(n_images: int, size: int, workers: int) -> float:
    """Images/s building the uint8 cache from THINGS-sized (500×500) JPEGs."""
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for index in range(n_images):
            small = rng.integers(0, 256, (63, 63, 3), dtype=np.uint8)
            path = Path(folder) / f'{index:05d}.jpg'
            Image.fromarray(small).resize((500, 500), Image.BICUBIC).save(path, quality=90)
            paths.append(path)
        began = time.perf_counter()
        image_cache(paths, size, Path(folder) / 'cache', workers=workers, progress=False)
        return n_images / (time.perf_counter() - began)


def batch_sizes(text: str) -> list[int]:
    """'16,128' -> [16, 128]; anything else is argparse's one-line error."""
    return [positive(part) for part in text.split(',')]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='python timing/training_step.py', description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--anchor', type=Path, required=True, help='the script timing the published step')
    parser.add_argument('--quick', action='store_true', help='tiny sizes on the CPU (a smoke test)')
    parser.add_argument('--batches', type=batch_sizes, help='trainer batch sizes (default 16,128; --quick: 4,8)')
    parser.add_argument('--steps', type=positive, help='timed steps (default 15; --quick: 2); in the --together rows '
                        'each is timed beside --subjects single-subject steps')
    parser.add_argument('--warmup', type=positive, help='untimed steps first (default 4; --quick: 1)')
    parser.add_argument('--cache-images', type=positive, default=2048)
    parser.add_argument('--subjects', type=positive, help='students of the --together rows (default 10; --quick: 3)')
    args = parser.parse_args(argv)
    quick = args.quick
    device = 'cuda' if torch.cuda.is_available() and not quick else 'cpu'
    if device == 'cpu':
        keep_freed_memory()  # as `brainscore train` does
    size = 64 if quick else 224
    batches = args.batches or batch_sizes('4,8' if quick else '16,128')
    steps, warmup = args.steps or (2 if quick else 15), args.warmup or (1 if quick else 4)
    try:
        anchor = anchor_rates(args.anchor, quick, max(batches))
    except RealnetError as error:
        print(f'timing: error: {error}', file=sys.stderr)
        return 2
    published = anchor[next(k for k in anchor if k.startswith('reference'))]
    rows = [('published step (anchor, fp32 batch 16)', published)]
    rows += [(f'anchor {name}', rate) for name, rate in anchor.items() if name.startswith('limit')]
    alone = {batch: step_rate(batch, size, device, steps, warmup) for batch in batches}
    rows += [(f'this trainer, batch {batch}', rate) for batch, rate in alone.items()]
    if device == 'cuda':
        rows.append(('this trainer, batch 16, CUDA graphs',
                     step_rate(16, size, device, steps, warmup + 3, compile_mode='reduce-overhead')))
    subjects = args.subjects or (3 if quick else 10)
    together = {batch: together_rates(batch, size, device, steps, warmup, subjects) for batch in batches}
    build = cache_rate(64 if quick else args.cache_images, size, os.cpu_count() or 1)
    name = torch.cuda.get_device_name() if device == 'cuda' else 'CPU'
    print(f'device: {name}, torch {torch.__version__}, image size {size}')
    print(f'{"variant":48} {"images/s":>10} {"× published":>12}')
    for label, rate in rows:
        # the anchor prints whole images/s: on a busy CPU its quick run can read 0
        ratio = f'{rate / published:12.2f}' if published else f'{"n/a":>12}'
        print(f'{label:48} {rate:10.1f} {ratio}')
    print(f'{"image cache build, " + str(os.cpu_count()) + " processes":48} {build:10.1f} {"(target 2000)":>12}')
    print(f'{subjects} subjects: subject-images/s      {"together":>10} {"one at a time":>14} {"ratio":>6}')
    for batch, (rate, alone_rate) in together.items():
        print(f'{"  batch " + str(batch):35} {rate:10.1f} {alone_rate:14.1f} {rate / alone_rate:6.2f}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
