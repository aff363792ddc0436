"""Fine-tune CORnet-S to generate one subject's EEG while classifying like its frozen copy."""
import contextlib
import copy
import dataclasses
import hashlib
import json
import math
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .. import __version__
from ..data.things_eeg2 import load_subject, subject_name
from ..encoder import EncodingHead, ReAlnet
from ..errors import RealnetError
from ..files import atomic_path
from ..models import load_network
from ..weights import realnet_home, split_state_dict
from .data import eeg_window, image_cache, to_input
from .loss import CLASSIFICATION_LOSSES, classification_loss, generation_loss

FORMAT = 'realnet-brainscore/1'

# Where the two named recipes differ (shared PROTOCOL.md, "Training"); everything else (lr 2e-5,
# batch 16, 30 epochs, β 100, seed 2023, ImageNet CORnet-S start) is the same in both.
RECIPES = {
    # The authors' notebook: teacher argmax, correlation term logged but detached, one mean and SD per subject.
    'paper': {'classification': 'hard', 'correlation_gradient': False, 'zscore': 'subject'},
    # This package's variant: teacher probabilities, differentiable correlation term, per-feature z-score.
    'improved': {'classification': 'soft', 'correlation_gradient': True, 'zscore': 'feature'},
}
ZSCORES = ('subject', 'feature')
SELECT_ON = ('validation', 'test')
SELECT_ON_TEST_WARNING = ('--select-on test selects the epoch on the test images, the evaluation set of the EEG '
                          'benchmarks (as the authors did): scores on them are no longer held out')


@dataclass
class TrainConfig:
    things_eeg2: Path
    subject: int
    out: Path
    cornet_weights: Path | None = None   # default: the published ImageNet CORnet-S
    epochs: int = 30
    batch_size: int = 16
    lr: float = 2e-5
    beta: float = 100.0
    seed: int = 2023
    window: tuple[float, float] = (0.0, 0.2)
    channels: tuple[str, ...] | None = None  # default: all 17
    recipe: str = 'paper'
    classification: str | None = None         # None: the recipe's
    correlation_gradient: bool | None = None  # None: the recipe's
    zscore: str | None = None                 # None: the recipe's
    select_on: str = 'validation'             # validation: held-out training images; test: the authors' choice
    validation_fraction: float = 0.1
    image_size: int = 224
    device: str | None = None
    compile: str = 'none'                 # none | default | reduce-overhead (CUDA graphs)
    workers: int | None = None
    cache_dir: Path | None = None
    resume: bool = False
    progress: bool = True

    def resolved(self) -> 'TrainConfig':
        """A copy with every setting left as None taken from the recipe."""
        if self.recipe not in RECIPES:
            raise RealnetError(f'unknown recipe {self.recipe!r}; choose {" or ".join(RECIPES)}')
        recipe = RECIPES[self.recipe]
        return dataclasses.replace(self, **{k: v for k, v in recipe.items() if getattr(self, k) is None})

    def check(self):
        """Refuses bad settings of a resolved config in one line."""
        if self.classification not in CLASSIFICATION_LOSSES:
            raise RealnetError(f'unknown classification loss {self.classification!r}; choose {CLASSIFICATION_LOSSES}')
        if self.zscore not in ZSCORES:
            raise RealnetError(f'unknown z-score {self.zscore!r}; choose {" or ".join(ZSCORES)}')
        if self.select_on not in SELECT_ON:
            raise RealnetError(f'unknown --select-on {self.select_on!r}; choose {" or ".join(SELECT_ON)}')
        for name in ('epochs', 'batch_size', 'image_size'):
            if getattr(self, name) < 1:
                raise RealnetError(f'{name.replace("_", "-")} must be at least 1')
        if not 0 < self.validation_fraction < 1:
            raise RealnetError('validation fraction must lie between 0 and 1')
        if self.compile not in ('none', 'default', 'reduce-overhead'):
            raise RealnetError(f'unknown compile mode {self.compile!r}')

    def record(self) -> dict:
        """The resolved settings a checkpoint records (and --resume must match): what shapes the result."""
        skip = {'things_eeg2', 'out', 'resume', 'progress', 'device', 'workers', 'cache_dir'}
        return {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v)
                for k, v in dataclasses.asdict(self.resolved()).items() if k not in skip}


def run_dir(config: TrainConfig) -> Path:
    return Path(config.out) / subject_name(config.subject)


def train(config: TrainConfig, on_epoch_end=None) -> dict:
    """Train one subject's ReAlnet; return the summary. ``on_epoch_end(record)`` runs after each epoch."""
    config = config.resolved()
    config.check()
    world = _Distributed()
    if config.select_on == 'test' and world.rank == 0:
        print(f'warning: {SELECT_ON_TEST_WARNING}', file=sys.stderr, flush=True)
    device = torch.device(config.device or (f'cuda:{world.local_rank}' if torch.cuda.is_available() else 'cpu'))
    folder = run_dir(config)
    start_epoch, best, log = _prepare_folder(folder, config)
    data = _Data(config, world, device)
    torch.manual_seed(config.seed)
    aligner = Aligner(_cornet(config), data.train.targets.shape[1], config, device, world)
    if start_epoch:
        _restore(folder / 'last.pt', aligner.network, aligner.optimizer, device)
    for epoch in range(start_epoch + 1, config.epochs + 1):
        began = time.perf_counter()
        record = {'epoch': epoch, **_train_epoch(aligner, data, config, world, epoch)}
        record.update(_validate(aligner, data, config))
        record['seconds'] = round(time.perf_counter() - began, 2)
        record['images_per_second'] = round(len(data.train) / max(record['seconds'], 1e-9), 1)
        improved, best = record['val_loss'] < best, min(best, record['val_loss'])
        if world.rank == 0:
            meta = _meta(config, data, epoch, record['val_loss'])
            _save(folder / 'last.pt', aligner.network, data, meta, optimizer=aligner.optimizer, best=best)
            if improved:
                _save(folder / 'best.pt', aligner.network, data, meta)
            log.append(record)
            with atomic_path(folder / 'log.jsonl') as partial:
                partial.write_text(''.join(json.dumps(r) + '\n' for r in log))
        if on_epoch_end:
            on_epoch_end(record)
    summary = _summarise(folder, config, log) if world.rank == 0 else {}
    world.close()
    return summary


def _train_epoch(aligner, data, config, world, epoch) -> dict:
    """One pass over this process's share of the training images, in an order fixed by seed + epoch."""
    aligner.network.train()
    order = torch.randperm(len(data.train), generator=torch.Generator().manual_seed(config.seed + epoch))
    order = world.shard(data.train.indices[order.numpy()])
    batches = [order[i:i + config.batch_size] for i in range(0, len(order), config.batch_size)]
    if config.compile == 'reduce-overhead' and len(batches) > 1 and len(batches[-1]) < config.batch_size:
        batches.pop()  # CUDA graphs want one batch shape
    sums = {}
    for indices in tqdm(batches, desc=f'{subject_name(config.subject)} epoch {epoch}/{config.epochs}',
                        disable=not (config.progress and world.rank == 0), leave=False):
        terms = aligner.losses(*data.train.batch(indices, aligner.cuda))
        aligner.update(terms['loss'])
        _accumulate(sums, terms, len(indices))
    return {f'train_{k}': v for k, v in _means(world.reduce(sums)).items()}


@torch.no_grad()
def _validate(aligner, data, config) -> dict:
    aligner.network.eval()
    sums = {}
    for i in range(0, len(data.validation), config.batch_size):
        indices = data.validation.indices[i:i + config.batch_size]
        _accumulate(sums, aligner.losses(*data.validation.batch(indices, aligner.cuda), train_mode=False),
                    len(indices))
    return {f'val_{k}': v for k, v in _means(sums).items()}


def _summarise(folder: Path, config: TrainConfig, log: list) -> dict:
    best = min(log, key=lambda r: r['val_loss'])
    summary = {'subject': config.subject, 'epochs': config.epochs, 'best_epoch': best['epoch'],
               'best_val_loss': best['val_loss'], 'best_checkpoint': str(folder / 'best.pt'),
               'final_checkpoint': str(folder / 'last.pt'), 'package_version': __version__}
    with atomic_path(folder / 'summary.json') as partial:
        partial.write_text(json.dumps(summary, indent=2) + '\n')
    return summary


class Aligner:
    """Student + EEG head, the frozen teacher, the optimiser, and the loss of one batch.

    On CUDA: bf16 autocast, channels_last, fused Adam; one backbone pass gives logits and area
    outputs; the teacher runs under no_grad. Shared by train() and the benchmark.
    """

    def __init__(self, student, n_out: int, config: TrainConfig, device, world=None):
        self.config, self.device = config.resolved(), torch.device(device)
        self.cuda = self.device.type == 'cuda'
        teacher = copy.deepcopy(student).eval().requires_grad_(False)
        head = EncodingHead.for_backbone(student, config.image_size, n_out)
        self.network = ReAlnet(student.train(), head).to(self.device)
        self.teacher = teacher.to(self.device)
        if self.cuda:
            self.network.to(memory_format=torch.channels_last)
            self.teacher.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=config.lr, fused=self.cuda)
        self.model = world.wrap(self.network, self.device) if world else self.network
        if config.compile != 'none':
            self.model = torch.compile(self.model, mode=config.compile)

    def losses(self, x, eeg, train_mode: bool = True) -> dict[str, torch.Tensor]:
        amp = torch.autocast('cuda', dtype=torch.bfloat16) if self.cuda else contextlib.nullcontext()
        with amp:
            logits, pred = self.model(x) if train_mode else self.network(x)
            with torch.no_grad():
                teacher_logits = self.teacher(x)
        terms = generation_loss(pred, eeg, self.config.correlation_gradient)
        terms['cls'] = classification_loss(logits, teacher_logits, self.config.classification)
        terms['loss'] = terms['cls'] + self.config.beta * terms['gen']
        return terms

    def update(self, loss):
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()


class _Data:
    """The subject's z-scored targets and images: ``train`` and ``validation`` (what selects the epoch)."""

    def __init__(self, config: TrainConfig, world, device):
        eeg = load_subject(config.things_eeg2, config.subject, 'training', average_repetitions=True)
        raw = eeg_window(eeg, config.window, config.channels)
        train, validation = _split(len(raw), config)
        self.mean, self.std = _zscore_statistics(raw, train, config.zscore)
        pixels = _images(eeg, config, world)
        targets = torch.from_numpy((raw - self.mean) / self.std).to(device)
        self.train = _Part(train, pixels, targets, device)
        self.validation = _Part(validation, pixels, targets, device)
        paths, arrays = list(eeg['image_path'].values), [raw]
        if config.select_on == 'test':
            test = load_subject(config.things_eeg2, config.subject, 'test', average_repetitions=True)
            test_raw = eeg_window(test, config.window, config.channels)
            test_targets = torch.from_numpy((test_raw - self.mean) / self.std).to(device)
            self.validation = _Part(np.arange(len(test_raw)), _images(test, config, world), test_targets, device)
            paths, arrays = paths + list(test['image_path'].values), arrays + [test_raw]
        self.fingerprint = _fingerprint(paths, np.concatenate([a.ravel() for a in arrays]))


def _split(n: int, config: TrainConfig):
    """(training rows, held-out rows); with --select-on test, as the authors: every image trains."""
    if config.select_on == 'test':
        return np.arange(n), np.arange(0)
    n_validation = max(1, round(config.validation_fraction * n))
    if n - n_validation < 2:
        raise RealnetError(f'{n} training images are too few to hold out {n_validation} for validation')
    permutation = np.random.default_rng(config.seed).permutation(n)
    return np.sort(permutation[n_validation:]), np.sort(permutation[:n_validation])


def _zscore_statistics(raw: np.ndarray, train: np.ndarray, zscore: str):
    """(mean, SD) broadcastable to a target row: shape (1,) per subject, (n_features,) per feature."""
    if zscore == 'subject':
        # The authors' preprocessed_mean_overall.npy: one mean and one SD over the subject's whole
        # training array. As in their code the held-out images count too; two scalars over ~560,000
        # values carry next to nothing about the held-out 10 %.
        return (np.array([raw.mean()], dtype=np.float32), np.array([raw.std() + 1e-6], dtype=np.float32))
    return raw[train].mean(0), raw[train].std(0) + 1e-6


def _images(eeg, config: TrainConfig, world) -> np.ndarray:
    """The uint8 cache of the assembly's images (built by rank 0, then read by every process)."""
    paths = list(eeg['image_path'].values)
    cache_dir = config.cache_dir or realnet_home() / 'cache'
    if world.rank == 0:
        pixels = image_cache(paths, config.image_size, cache_dir, config.workers, config.progress)
    world.barrier()
    return pixels if world.rank == 0 else image_cache(paths, config.image_size, cache_dir, 1, False)


class _Part:
    """Rows ``indices`` of one image set and its targets."""

    def __init__(self, indices: np.ndarray, pixels: np.ndarray, targets: torch.Tensor, device):
        self.indices, self.pixels, self.targets, self.device = indices, pixels, targets, torch.device(device)

    def __len__(self):
        return len(self.indices)

    def batch(self, indices: np.ndarray, channels_last: bool):
        """Normalised images and EEG targets of ``indices``, on the device."""
        indices = np.sort(indices)  # memmap reads in file order
        x = to_input(self.pixels[indices], self.device, channels_last)
        return x, self.targets[torch.from_numpy(indices).to(self.device)]


def _fingerprint(paths, targets) -> str:
    digest = hashlib.sha1('\n'.join(map(str, paths)).encode())
    digest.update(np.ascontiguousarray(targets).tobytes())
    return digest.hexdigest()[:16]


def _cornet(config: TrainConfig):
    """The starting CORnet-S: the user's file, else the published ImageNet weights."""
    return load_network('cornet-s', weights=config.cornet_weights, progress=config.progress).backbone.train()


def _prepare_folder(folder: Path, config: TrainConfig):
    """(first epoch done, best validation loss, log) — refuses to overwrite a run unless resuming."""
    last = folder / 'last.pt'
    if not last.is_file():
        return 0, math.inf, []  # the folder is made by the first checkpoint: bad input leaves none
    if not config.resume:
        raise RealnetError(f'{folder} already holds a run; pass --resume to continue it or choose another --out')
    checkpoint = torch.load(last, map_location='cpu', weights_only=True)
    meta = checkpoint['meta']
    if meta['config'] != config.record():
        changed = sorted(k for k in config.record() if config.record()[k] != meta['config'].get(k))
        if changed != ['epochs']:
            raise RealnetError(f'{folder}: --resume with other settings than the run ({", ".join(changed)})')
    log_file = folder / 'log.jsonl'
    log = [json.loads(line) for line in log_file.read_text().splitlines()] if log_file.is_file() else []
    log = [r for r in log if r['epoch'] <= meta['epoch']]
    return meta['epoch'], float(checkpoint['best_val_loss']), log


def _restore(path: Path, network: ReAlnet, optimizer, device):
    checkpoint = torch.load(path, map_location=device, weights_only=True)
    backbone, head = split_state_dict(checkpoint['state_dict'])
    network.backbone.load_state_dict(backbone, strict=True)
    network.head.load_state_dict(head, strict=True)
    optimizer.load_state_dict(checkpoint['optimizer'])


def _meta(config, data, epoch, val_loss) -> dict:
    return {'format': FORMAT, 'subject': config.subject, 'epoch': epoch, 'val_loss': val_loss,
            'config': config.record(), 'data_fingerprint': data.fingerprint, 'package_version': __version__,
            'n_train_images': len(data.train), 'n_validation_images': len(data.validation)}


def _save(path: Path, network: ReAlnet, data: _Data, meta: dict, optimizer=None, best=None):
    """Student + head in the published ReAlnet layout, plus what a user or --resume needs."""
    state = {f'realnet.module.{k}': v.detach().cpu() for k, v in network.backbone.state_dict().items()}
    state.update({k: v.detach().cpu() for k, v in network.head.state_dict().items()})
    checkpoint = {'state_dict': state, 'meta': meta,
                  'eeg_mean': torch.from_numpy(data.mean), 'eeg_std': torch.from_numpy(data.std)}
    if optimizer is not None:
        checkpoint['optimizer'] = optimizer.state_dict()
        checkpoint['best_val_loss'] = best
    with atomic_path(path) as partial:
        torch.save(checkpoint, partial)


def _accumulate(sums, terms, n):
    """Running sums kept on the device: reading a value each step would stall the GPU."""
    for key, value in terms.items():
        sums[key] = sums.get(key, 0.0) + value.detach().double() * n
    sums['_n'] = sums.get('_n', 0) + n


def _means(sums) -> dict:
    n = sums.get('_n', 0) or 1
    return {k: float(v) / n for k, v in sums.items() if k != '_n'}


class _Distributed:
    """Data-parallel training under torchrun (WORLD_SIZE > 1); a no-op otherwise."""

    def __init__(self):
        self.size = int(os.environ.get('WORLD_SIZE', '1'))
        self.rank = int(os.environ.get('RANK', '0'))
        self.local_rank = int(os.environ.get('LOCAL_RANK', '0'))
        if self.size > 1 and not torch.distributed.is_initialized():
            backend = 'nccl' if torch.cuda.is_available() else 'gloo'
            if backend == 'nccl':
                torch.cuda.set_device(self.local_rank)
            torch.distributed.init_process_group(backend)

    def wrap(self, network, device):
        if self.size == 1:
            return network
        from torch.nn.parallel import DistributedDataParallel
        return DistributedDataParallel(network, device_ids=[device.index] if device.type == 'cuda' else None)

    def shard(self, order: np.ndarray) -> np.ndarray:
        return order[self.rank::self.size] if self.size > 1 else order

    def reduce(self, sums: dict) -> dict:
        """Sums over all processes."""
        if self.size == 1:
            return sums
        keys = sorted(sums)
        values = torch.stack([torch.as_tensor(sums[k], dtype=torch.float64).cpu() for k in keys])
        if torch.distributed.get_backend() == 'nccl':
            values = values.cuda()
        torch.distributed.all_reduce(values)
        return dict(zip(keys, values.tolist()))

    def barrier(self):
        if self.size > 1:
            torch.distributed.barrier()

    def close(self):
        if self.size > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
