"""Fine-tune a backbone (CORnet-S by default) to generate one subject's EEG or fMRI responses (or a
group's) while classifying like its frozen copy."""
import contextlib
import copy
import dataclasses
import fcntl
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
from ..backbones import CORNET, CORNET_SPEC, create, describe, pretrained_state
from ..checkpoint import FORMAT, Checkpoint, read_checkpoint, split_state_dict, write_checkpoint
from ..data import shen2019
from ..data.things_eeg2 import subject_name
from ..encoder import EncodingHead, ReAlnet
from ..errors import RealnetError, first_line
from ..files import atomic_path, partial_files, writable_folder
from ..models import load_strict
from ..weights import realnet_home, resolve
from .allocator import keep_freed_memory
from .data import image_cache, to_input
from .loss import CLASSIFICATION_LOSSES, classification_loss, generation_loss
from .students import Students
from .targets import reduced, responses, side_by_side, zscore_statistics

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
RUN_FILES = ('last.pt', 'best.pt', 'log.jsonl', 'summary.json')
RESUME_ADVICE = 'it cannot be resumed from: move it away or choose another --out'
LOCK_FILE = '.train.lock'
TERMS = ('cls', 'mse', 'matched_r', 'unmatched_r', 'gen', 'loss')  # the loss terms of a step, logged and checked
CHECK_EVERY = 50  # CUDA steps between reads of the losses (one GPU sync each); on the CPU every step
NON_FINITE_ADVICE = 'Lower --lr or --beta, or check the starting weights'
SELECT_ON_TEST_WARNING = ('--select-on test selects the epoch on the test images, the evaluation set of the EEG '
                          'benchmarks (as the authors did): scores on them are no longer held out')


@dataclass
class TrainConfig:
    out: Path
    things_eeg2: Path | None = None      # EEG alignment (ReAlnet) ...
    shen2019: Path | None = None         # ... or fMRI alignment (ReAlnet-fMRI): one of the two
    subject: int | None = None           # one subject ...
    group: tuple[int, ...] = ()          # ... or a group model: these subjects, one head output each
    backbone: str = CORNET               # cornet-s, a torchvision classifier or timm:NAME
    layers: tuple[str, ...] | None = None  # module names the head reads; None: the family's default
    regions: dict | None = None          # V1 V2 V4 IT -> layer; None: spread over the layers in order
    pool: int | None = None              # the head averages each layer's output to pool×pool first
    backbone_weights: Path | None = None  # default: the library's ImageNet weights
    drop_nan_voxels: bool = False        # fMRI: leave out voxels with NaN values instead of refusing the data
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
    parallel_students: int | None = None  # CPU, several subjects: students stepped at once; None: one per CPU thread
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
        """Refuses bad settings of a resolved config in one line, before any data is read."""
        if self.classification not in CLASSIFICATION_LOSSES:
            raise RealnetError(f'unknown classification loss {self.classification!r}; choose {CLASSIFICATION_LOSSES}')
        if self.zscore not in ZSCORES:
            raise RealnetError(f'unknown z-score {self.zscore!r}; choose {" or ".join(ZSCORES)}')
        if self.select_on not in SELECT_ON:
            raise RealnetError(f'unknown --select-on {self.select_on!r}; choose {" or ".join(SELECT_ON)}')
        self._check_data()
        for name in ('epochs', 'batch_size', 'image_size'):
            if getattr(self, name) < 1:
                raise RealnetError(f'{name.replace("_", "-")} must be at least 1')
        if not 0 < self.validation_fraction < 1:
            raise RealnetError('validation fraction must lie between 0 and 1')
        if self.compile not in ('none', 'default', 'reduce-overhead'):
            raise RealnetError(f'unknown compile mode {self.compile!r}')
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise RealnetError(f'--lr must be a positive number, got {self.lr}')
        if not (math.isfinite(self.beta) and self.beta >= 0):
            raise RealnetError(f'--beta must be a number of at least 0, got {self.beta}')
        start, end = self.window
        if not (math.isfinite(start) and math.isfinite(end) and start < end):
            raise RealnetError(f'--window START END must be numbers with START < END, got {start} {end}')
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2 ** 63:
            raise RealnetError(f'--seed must be a whole number from 0 to 2**63 - 1, got {self.seed}')
        if self.workers is not None and self.workers < 1:
            raise RealnetError('workers must be at least 1')
        if self.parallel_students is not None and self.parallel_students < 1:
            raise RealnetError('--parallel-students must be at least 1')
        if self.pool is not None and self.pool < 1:
            raise RealnetError('--pool must be at least 1')

    def _check_data(self):
        if (self.things_eeg2 is None) == (self.shen2019 is None):
            raise RealnetError('train on one data set: --things-eeg2 (EEG) or --shen2019 (fMRI)')
        if (self.subject is None) == (not self.group):
            raise RealnetError('train one subject (--subject) or a group (--subjects LIST --group)')
        known = shen2019.SUBJECTS if self.shen2019 is not None else range(1, 11)
        for subject in self.group or (self.subject,):
            if subject not in known:
                raise RealnetError(f'{self.data_name} has subjects {known[0]} to {known[-1]}, not {subject}')
        if self.group and (len(set(self.group)) < 2 or len(set(self.group)) < len(self.group)):
            raise RealnetError('a group model needs two subjects at least, each once')
        if self.shen2019 is not None and self.select_on == 'test':
            raise RealnetError('--select-on test is for EEG: Shen 2019 fMRI training selects on held-out training '
                               'images')
        if self.shen2019 is not None and self.channels:
            raise RealnetError('--channels is for EEG, not Shen 2019 fMRI')

    @property
    def data_name(self) -> str:
        return 'Shen 2019' if self.shen2019 is not None else 'THINGS-EEG2'

    @property
    def modality(self) -> str:
        return 'fMRI' if self.shen2019 is not None else 'EEG'

    def record(self) -> dict:
        """The resolved settings a checkpoint records (and --resume must match): what shapes the result."""
        skip = {'things_eeg2', 'shen2019', 'out', 'resume', 'progress', 'device', 'workers', 'parallel_students',
                'cache_dir'}
        return {k: (str(v) if isinstance(v, Path) else list(v) if isinstance(v, tuple) else v)
                for k, v in dataclasses.asdict(self.resolved()).items() if k not in skip}


def run_dir(config: TrainConfig) -> Path:
    return Path(config.out) / run_name(config)


def run_name(config: TrainConfig) -> str:
    """``sub-01``, or ``group`` for a group model."""
    return 'group' if config.group else subject_name(config.subject)


def train(config: TrainConfig, on_epoch_end=None) -> dict:
    """Train one subject's ReAlnet (or a group's); return the summary. ``on_epoch_end(record)`` runs
    after each epoch."""
    return train_together([config], on_epoch_end)[0]


def train_together(configs: list[TrainConfig], on_epoch_end=None) -> list[dict]:
    """Train several subjects in one pass: every student takes the same batches in the same order
    (as the authors' one seed gives), the images are prepared once and the frozen teacher runs once
    per batch. Each subject's folder, checkpoints, log and resume are those of a run of its own; a
    record passed to ``on_epoch_end`` names its run (``'run'``) when there are several."""
    configs = [config.resolved() for config in configs]
    for config in configs:
        config.check()
    _check_together(configs)
    world = _Distributed()
    _check_parallel_students(configs[0], world)
    device = _device(configs[0], world)
    if device.type == 'cpu':
        keep_freed_memory()
    folders = [writable_folder(run_dir(config)) for config in configs]
    _check_cache_dir(configs[0])
    if configs[0].select_on == 'test' and world.rank == 0:
        print(f'warning: {SELECT_ON_TEST_WARNING}', file=sys.stderr, flush=True)
    with contextlib.ExitStack() as locks:
        for folder in folders if world.rank == 0 else ():
            locks.enter_context(_run_lock(folder))
        summaries = _run(configs, world, device, folders, on_epoch_end)
    world.close()
    return summaries


def _check_parallel_students(config: TrainConfig, world):
    on_cpu = (config.device or ('cuda' if torch.cuda.is_available() else 'cpu')).startswith('cpu')
    if (config.parallel_students or 1) > 1 and (world.size > 1 or not on_cpu):
        raise RealnetError('--parallel-students is for one process on the CPU; on a GPU or under torchrun the '
                           'students step one after another')


def _check_together(configs: list[TrainConfig]):
    """Runs of one pass differ only in their subject: they share every batch."""
    if len(configs) < 2:
        return
    if any(config.group for config in configs):
        raise RealnetError('--together trains single subjects side by side, not group models')
    first = {k: v for k, v in configs[0].record().items() if k != 'subject'}
    for config in configs[1:]:
        changed = sorted(k for k, v in config.record().items() if k != 'subject' and first[k] != v)
        if changed or config.things_eeg2 != configs[0].things_eeg2 or config.shen2019 != configs[0].shen2019:
            raise RealnetError(f'runs trained together share every setting and the data; these differ: '
                               f'{", ".join(changed) or "the data folder"}')
    subjects = [config.subject for config in configs]
    if len(set(subjects)) < len(subjects):
        raise RealnetError('--together: each subject once, please')


def _run(configs: list[TrainConfig], world, device, folders: list[Path], on_epoch_end) -> list[dict]:
    runs = [_Run(config, world, device, folder) for config, folder in zip(configs, folders)]
    _check_same_images(runs)
    for run in runs[1:]:  # one frozen teacher: every run starts from the same weights
        run.aligner.teacher = runs[0].aligner.teacher
    workers = 1 if world.size > 1 else min(len(runs), configs[0].parallel_students or torch.get_num_threads())
    for epoch in range(min(run.start_epoch for run in runs) + 1, configs[0].epochs + 1):
        due = [run for run in runs if run.start_epoch < epoch]  # after a kill, some may be an epoch ahead
        began = time.perf_counter()
        with Students([run.aligner for run in due], device, workers) as students:
            trained, validated = _train_epoch(due, world, epoch, students), _validate(due, students)
        records = [{'epoch': epoch, **t, **v} for t, v in zip(trained, validated)]
        seconds = round(time.perf_counter() - began, 2)
        for run, record in zip(due, records):
            run.end_epoch(record, seconds, world, on_epoch_end, several=len(runs) > 1)
    return [_summarise(run.folder, run.config, run.log) for run in runs] if world.rank == 0 else [{}] * len(runs)


class _Run:
    """One subject's run inside a pass: its folder, data, student and log, restored when resuming."""

    def __init__(self, config: TrainConfig, world, device, folder: Path):
        self.config, self.folder = config, folder
        checkpoint, self.log = _prepare_folder(folder, config)
        torch.manual_seed(config.seed)
        student, spec = _start_backbone(config)  # before the data: a bad layer or missing weights fail at once
        self.data = _Data(config, world, device)
        if checkpoint and checkpoint.meta['data_fingerprint'] != self.data.fingerprint:
            raise RealnetError(f'{folder}: --resume on other data than the run (data fingerprint '
                               f'{self.data.fingerprint}, the run\'s {checkpoint.meta["data_fingerprint"]}); give '
                               'the run\'s data or choose another --out')
        self.aligner = Aligner(student, self.data.train.targets.shape[1], config, device, world, spec)
        self.start_epoch, self.best = 0, math.inf
        if checkpoint:
            _restore(checkpoint, folder / 'last.pt', self.aligner.network, self.aligner.optimizer)
            self.start_epoch, self.best = checkpoint.meta['epoch'], float(checkpoint.extras['best_val_loss'])

    def end_epoch(self, record: dict, seconds: float, world, on_epoch_end, several: bool):
        _check_validation(record, run_name(self.config) if several else '')
        record['seconds'] = seconds
        record['images_per_second'] = round(len(self.data.train) / max(seconds, 1e-9), 1)
        improved, self.best = record['val_loss'] < self.best, min(self.best, record['val_loss'])
        if world.rank == 0:
            self.log.append(record)
            meta = _meta(self.config, self.data, self.aligner.spec, record['epoch'], record['val_loss'])
            _save_epoch(self.folder, self.aligner, self.data, meta, self.log, improved, self.best)
        if on_epoch_end:
            on_epoch_end({'run': run_name(self.config), **record} if several else record)


def _check_same_images(runs: list['_Run']):
    lead = runs[0].data
    for run in runs[1:]:
        if not (np.array_equal(run.data.train.indices, lead.train.indices)
                and np.array_equal(run.data.validation.indices, lead.validation.indices)
                and run.data.image_paths == lead.image_paths):
            raise RealnetError(f'{run_name(run.config)} has other images than {run_name(runs[0].config)}: runs '
                               'trained together share every batch')


def _save_epoch(folder: Path, aligner, data, meta: dict, log: list, improved: bool, best: float):
    """best.pt (if the epoch improved), the log, then last.pt: a run killed in between resumes from
    the epoch before, whose log it cuts to that epoch."""
    if improved:
        _save(folder / 'best.pt', aligner.network, data, meta)
    with atomic_path(folder / 'log.jsonl') as partial:
        partial.write_text(''.join(json.dumps(r) + '\n' for r in log))
    _save(folder / 'last.pt', aligner.network, data, meta, optimizer=aligner.optimizer, best=best)


def _device(config: TrainConfig, world) -> torch.device:
    """The device to train on; a name that is none, or a GPU this machine lacks, is refused in one line."""
    name = config.device or (f'cuda:{world.local_rank}' if torch.cuda.is_available() else 'cpu')
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as error:
        raise RealnetError(f'--device {name!r} is not a device; use cpu, cuda or cuda:N') from error
    if device.type == 'cuda':
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            have = f'{count} CUDA GPU(s), cuda:0 to cuda:{count - 1}' if count else 'no usable CUDA GPU'
            raise RealnetError(f'--device {name}: this machine has {have}; use --device cpu or another GPU')
    elif device.type == 'mps':
        if not torch.backends.mps.is_available():
            raise RealnetError(f'--device {name}: MPS is not available here; use --device cpu')
    elif device.type != 'cpu':
        raise RealnetError(f'--device {name}: training runs on cpu, cuda or mps')
    return device


def _cache_dir(config: TrainConfig) -> Path:
    return Path(config.cache_dir) if config.cache_dir else realnet_home() / 'cache'


def _check_cache_dir(config: TrainConfig):
    try:
        writable_folder(_cache_dir(config))
    except RealnetError as error:
        where = '' if config.cache_dir else '; set $REALNET_HOME to a folder that can be written'
        raise RealnetError(f'image cache: {error}{where}') from error


@contextlib.contextmanager
def _run_lock(folder: Path):
    """Holds an exclusive lock on the run folder for the whole run: a second train into it fails at
    once. The folder (and any missing folder above it) is made here and removed again if the run
    ends with nothing in it, so bad input leaves no trace. While the lock is held nothing else
    writes here, so partial files a killed run left are removed."""
    made = [path for path in (folder, *folder.parents) if not path.exists()]  # innermost first
    folder.mkdir(parents=True, exist_ok=True)
    lock_file = folder / LOCK_FILE
    try:
        with open(lock_file, 'a') as lock:
            if not _lock(lock, lock_file):
                raise RealnetError(f'{folder}: another train run holds it (its lock file {LOCK_FILE}); '
                                   'wait for that run to end or choose another --out')
            try:
                for name in RUN_FILES:  # the lock holder is this folder's only writer: any partial is a leftover
                    for leftover in partial_files(folder, name):
                        leftover.unlink(missing_ok=True)
                yield
            finally:
                lock_file.unlink(missing_ok=True)  # while still held, so no one locks a removed file
    finally:
        for path in made:
            with contextlib.suppress(OSError):  # not empty: the run wrote something, or another one did
                path.rmdir()


def _lock(lock, lock_file: Path) -> bool:
    """Whether this process now holds ``lock`` exclusively, and ``lock_file`` is still that file
    (a run that has just ended removes its lock file)."""
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return os.path.samestat(os.fstat(lock.fileno()), os.stat(lock_file))
    except (BlockingIOError, FileNotFoundError):
        return False


def _train_epoch(runs: list[_Run], world, epoch: int, students: Students) -> list[dict]:
    """One pass over this process's share of the training images, in an order fixed by seed + epoch:
    each batch is prepared once and the teacher run once for every student; ``students`` steps them."""
    lead, config = runs[0], runs[0].config
    order = torch.randperm(len(lead.data.train), generator=torch.Generator().manual_seed(config.seed + epoch))
    order = world.shard(lead.data.train.indices[order.numpy()])
    batches = [order[i:i + config.batch_size] for i in range(0, len(order), config.batch_size)]
    if config.compile == 'reduce-overhead' and len(batches) > 1 and len(batches[-1]) < config.batch_size:
        batches.pop()  # CUDA graphs want one batch shape
    sums = [{} for _ in runs]
    checks = [_FiniteCheck(len(batches), lead.aligner.device, epoch, CHECK_EVERY if lead.aligner.cuda else 1,
                           run_name(run.config) if len(runs) > 1 else '') for run in runs]
    desc = f'{run_name(config) if len(runs) == 1 else f"{len(runs)} subjects"} epoch {epoch}/{config.epochs}'
    for step, indices in enumerate(tqdm(batches, desc=desc, disable=not (config.progress and world.rank == 0),
                                        leave=False)):
        x = lead.data.train.images(indices, lead.aligner.cuda)
        targets = [run.data.train.targets_of(indices) for run in runs]
        for i, terms in enumerate(students.map(Aligner.train_step, targets, x, lead.aligner.teacher_logits(x))):
            checks[i].add(step, terms)
            _accumulate(sums[i], terms, len(indices))
    for check in checks:
        check.check(len(batches))
    return [{f'train_{k}': v for k, v in _means(world.reduce(run_sums)).items()} for run_sums in sums]


class _FiniteCheck:
    """Stops training at the first step whose loss terms are not all finite (NaN or ±inf).

    Reading a loss every step would stall the GPU, so each step's terms are written into a tensor on
    the device and read all at once every ``every`` steps and at the end of the epoch, always before
    anything is saved: no checkpoint holds weights trained on a non-finite loss. The first bad step
    and its terms are still exact; at most ``every`` - 1 steps run in vain.
    """

    def __init__(self, n_steps: int, device, epoch: int, every: int, name: str = ''):
        self.values = torch.zeros(n_steps, len(TERMS), device=device)
        self.epoch, self.every, self.checked, self.name = epoch, every, 0, name

    def add(self, step: int, terms: dict):
        self.values[step] = torch.stack([terms[t].detach().float() for t in TERMS])
        if (step + 1) % self.every == 0:
            self.check(step + 1)

    def check(self, steps: int):
        """Raises if one of the steps done since the last check (up to ``steps``) was not finite."""
        bad = ~torch.isfinite(self.values[self.checked:steps])
        rows = bad.any(1).nonzero().flatten().tolist()  # the one read of the GPU
        if rows:
            step = self.checked + rows[0]
            values = dict(zip(TERMS, self.values[step].tolist()))
            named = ', '.join(f'{t}={values[t]}' for t, b in zip(TERMS, bad[rows[0]].tolist()) if b)
            raise RealnetError(f'{self.name + ": " if self.name else ""}training stopped: non-finite loss at epoch '
                               f'{self.epoch}, step {step + 1} '
                               f'({named}); nothing of this epoch was saved. {NON_FINITE_ADVICE}')
        self.checked = steps


def _check_validation(record: dict, name: str = ''):
    named = ', '.join(f'{t}={record[f"val_{t}"]}' for t in TERMS if not math.isfinite(record[f'val_{t}']))
    if named:
        raise RealnetError(f'{name + ": " if name else ""}training stopped: non-finite validation loss at epoch '
                           f'{record["epoch"]} ({named}); nothing of this epoch was saved. {NON_FINITE_ADVICE}')


def _validate(runs: list[_Run], students: Students) -> list[dict]:
    """Each run's losses on the held-out images (the same for every run): each batch is prepared once
    and the teacher run once for every student, as in training."""
    lead, part = runs[0], runs[0].data.validation
    sums = [{} for _ in runs]
    for i in range(0, len(part), lead.config.batch_size):
        indices = part.indices[i:i + lead.config.batch_size]
        x = part.images(indices, lead.aligner.cuda)
        targets = [run.data.validation.targets_of(indices) for run in runs]
        for j, terms in enumerate(students.map(Aligner.held_out_terms, targets, x, lead.aligner.teacher_logits(x))):
            _accumulate(sums[j], terms, len(indices))
    return [{f'val_{k}': v for k, v in _means(run_sums).items()} for run_sums in sums]


def _summarise(folder: Path, config: TrainConfig, log: list) -> dict:
    if not log or not (folder / 'best.pt').is_file():  # a resumed run whose files were moved away
        raise RealnetError(f'{folder}: best.pt or the log of its epochs is missing; the run has no summary')
    best = min(log, key=lambda r: r['val_loss'])
    summary = {'subject': config.subject, 'subjects': list(config.group), 'modality': config.modality,
               'epochs': config.epochs, 'best_epoch': best['epoch'],
               'best_val_loss': best['val_loss'], 'best_checkpoint': str(folder / 'best.pt'),
               'final_checkpoint': str(folder / 'last.pt'), 'package_version': __version__}
    with atomic_path(folder / 'summary.json') as partial:
        partial.write_text(json.dumps(summary, indent=2) + '\n')
    return summary


class Aligner:
    """Student + EEG head, the frozen teacher, the optimiser, and the loss of one batch.

    Fused Adam (one kernel for all weights; on the CPU a step's Adam took 0.23 s for-each, 0.03 s
    fused). On CUDA: bf16 autocast, channels_last; one backbone pass gives logits and area outputs;
    the teacher runs under no_grad. Shared by train() and the timing script.
    """

    def __init__(self, student, n_out: int, config: TrainConfig, device, world=None, spec=CORNET_SPEC):
        self.config, self.device, self.spec = config.resolved(), torch.device(device), spec
        self.cuda = self.device.type == 'cuda'
        teacher = copy.deepcopy(student).eval().requires_grad_(False)
        head = EncodingHead.for_backbone(student, config.image_size, n_out, layers=spec.layers, pool=spec.pool)
        self.network = ReAlnet(student.train(), head).to(self.device)
        self.teacher = teacher.to(self.device)
        if self.cuda:
            self.network.to(memory_format=torch.channels_last)
            self.teacher.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=config.lr,
                                          fused=self.device.type in ('cpu', 'cuda'))
        self.model = world.wrap(self.network, self.device) if world else self.network
        if config.compile != 'none':
            self.model = torch.compile(self.model, mode=config.compile)

    def _amp(self):
        return torch.autocast('cuda', dtype=torch.bfloat16) if self.cuda else contextlib.nullcontext()

    @torch.no_grad()
    def teacher_logits(self, x) -> torch.Tensor:
        with self._amp():
            return self.teacher(x)

    def losses(self, x, eeg, train_mode: bool = True, teacher_logits=None) -> dict[str, torch.Tensor]:
        """The loss terms of one batch; ``teacher_logits`` when the teacher has already seen it."""
        with self._amp():
            logits, pred = self.model(x) if train_mode else self.network(x)
        if teacher_logits is None:
            teacher_logits = self.teacher_logits(x)
        terms = generation_loss(pred, eeg, self.config.correlation_gradient)
        terms['cls'] = classification_loss(logits, teacher_logits, self.config.classification)
        terms['loss'] = terms['cls'] + self.config.beta * terms['gen']
        return terms

    def train_step(self, eeg, x, teacher_logits) -> dict[str, torch.Tensor]:
        """One step on a batch the teacher has seen; the loss terms."""
        self.network.train()
        terms = self.losses(x, eeg, teacher_logits=teacher_logits)
        self.optimizer.zero_grad(set_to_none=True)
        terms['loss'].backward()
        self.optimizer.step()
        return {k: v.detach() for k, v in terms.items()}

    @torch.no_grad()
    def held_out_terms(self, eeg, x, teacher_logits) -> dict[str, torch.Tensor]:
        """The loss terms of a held-out batch the teacher has seen."""
        self.network.eval()
        return self.losses(x, eeg, train_mode=False, teacher_logits=teacher_logits)


class _Data:
    """The z-scored targets and images: ``train`` and ``validation`` (what selects the epoch)."""

    def __init__(self, config: TrainConfig, world, device):
        found = responses(config)
        train, validation = _split(len(found.image_paths), config)
        values = [reduced(v, train) for v in found.subjects] if config.modality == 'fMRI' else found.subjects
        statistics = [zscore_statistics(v, train, config.zscore) for v in values]
        self.mean, self.std = side_by_side(statistics, [v.shape[1] for v in values])
        raw = np.concatenate(values, axis=1)
        pixels = _images(found.image_paths, config, world)
        targets = torch.from_numpy((raw - self.mean) / self.std).to(device)
        self.train = _Part(train, pixels, targets, device)
        self.validation = _Part(validation, pixels, targets, device)
        paths, arrays = found.image_paths, found.subjects
        if config.select_on == 'test':
            test = responses(config, 'test')
            test_raw = np.concatenate(test.subjects, axis=1)
            test_targets = torch.from_numpy((test_raw - self.mean) / self.std).to(device)
            self.validation = _Part(np.arange(len(test_raw)), _images(test.image_paths, config, world), test_targets,
                                    device)
            paths, arrays = paths + test.image_paths, arrays + test.subjects
        self.image_paths = found.image_paths
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


def _images(paths: list[str], config: TrainConfig, world) -> np.ndarray:
    """The uint8 cache of the images (built by rank 0, then read by every process)."""
    cache_dir = _cache_dir(config)
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

    def images(self, indices: np.ndarray, channels_last: bool) -> torch.Tensor:
        """The normalised images of ``indices`` (sorted: memmap reads in file order), on the device."""
        return to_input(self.pixels[np.sort(indices)], self.device, channels_last)

    def targets_of(self, indices: np.ndarray) -> torch.Tensor:
        """The targets of ``indices``, in the order of ``images``."""
        return self.targets[torch.from_numpy(np.sort(indices)).to(self.device)]


def _fingerprint(paths, targets) -> str:
    """Of the image names (split/concept/file, not where the release lies) and the EEG targets."""
    digest = hashlib.sha1('\n'.join('/'.join(Path(p).parts[-3:]) for p in paths).encode())
    digest.update(np.ascontiguousarray(targets).tobytes())
    return digest.hexdigest()[:16]


def _start_backbone(config: TrainConfig):
    """(the starting network, its spec): bad layers or regions are refused before any weights are
    read; then the user's file, else the library's ImageNet weights; NaN or infinite weights are
    refused (every loss would be NaN)."""
    network = create(config.backbone)
    spec = describe(config.backbone, network, config.image_size, config.layers, config.regions, config.pool)
    cornet, file = config.backbone == CORNET, config.backbone_weights
    if file:
        state = split_state_dict(read_checkpoint(file).state_dict, cornet=cornet)[0]
    else:
        state = split_state_dict(read_checkpoint(resolve(CORNET, config.progress)).state_dict)[0] if cornet \
            else pretrained_state(config.backbone, config.progress)
    load_strict(network, state, file or config.backbone, 'CORnet-S' if cornet else config.backbone)
    bad = [name for name, tensor in network.state_dict().items()  # a float64 sum is finite iff every value is
           if tensor.is_floating_point() and not torch.isfinite(tensor.sum(dtype=torch.float64))]
    if bad:
        source = file or f'the published {"CORnet-S" if cornet else config.backbone} weights'
        raise RealnetError(f'{source}: {len(bad)} weight tensors hold NaN or infinite values (first: {bad[0]}); '
                           'training cannot start from them')
    return network.train(), spec


def _prepare_folder(folder: Path, config: TrainConfig):
    """(checkpoint to resume from or None, the run's log) — refuses a folder that holds any file of
    a run unless resuming, and a run that cannot be resumed with these settings."""
    held = [name for name in RUN_FILES if (folder / name).exists()]
    if not held:
        return None, []
    if not config.resume:
        raise RealnetError(f'{folder} already holds a run ({", ".join(held)}); pass --resume to continue it or '
                           'choose another --out')
    if 'last.pt' not in held:
        raise RealnetError(f'{folder} holds {", ".join(held)} but no last.pt to resume from; move them away '
                           'or choose another --out')
    missing = [name for name in ('best.pt', 'log.jsonl') if name not in held]
    if missing:
        raise RealnetError(f'{folder} holds last.pt but not {" or ".join(missing)}: an incomplete run that '
                           'cannot be resumed; choose another --out')
    checkpoint = _read_last(folder / 'last.pt')
    meta = checkpoint.meta
    current, defaults = config.record(), TrainConfig(out=Path('.')).record()
    changed = sorted(k for k in current if current[k] != meta['config'].get(k, defaults[k]))  # older runs lack new keys
    if changed and changed != ['epochs']:
        raise RealnetError(f'{folder}: --resume with other settings than the run ({", ".join(changed)})')
    return checkpoint, _read_log(folder / 'log.jsonl', meta['epoch'])


def _read_last(path: Path) -> Checkpoint:
    """last.pt of a run of this trainer; anything else (truncated, another kind of file or format, a
    plain state dict) is refused in one line."""
    checkpoint = read_checkpoint(path, advice=RESUME_ADVICE)
    meta = checkpoint.meta
    if not (meta.get('format') == FORMAT and isinstance(meta.get('epoch'), int)
            and isinstance(meta.get('config'), dict) and isinstance(meta.get('data_fingerprint'), str)
            and isinstance(checkpoint.extras.get('optimizer'), dict)
            and isinstance(checkpoint.extras.get('best_val_loss'), (int, float))):
        raise RealnetError(f'{path}: not a last.pt written by brainscore train; {RESUME_ADVICE}')
    return checkpoint


def _read_log(file: Path, epoch: int) -> list:
    """The log's records up to ``epoch`` (those of a later epoch belong to a last.pt never written)."""
    try:
        log = [json.loads(line) for line in file.read_text().splitlines() if line.strip()]
        return [record for record in log if record['epoch'] <= epoch]
    except (ValueError, KeyError, TypeError) as error:
        raise RealnetError(f'{file}: not a log written by brainscore train ({first_line(error)}); move the run '
                           'away or choose another --out') from error


def _restore(checkpoint: Checkpoint, path: Path, network: ReAlnet, optimizer):
    try:
        backbone, head = split_state_dict(checkpoint.state_dict)
        network.backbone.load_state_dict(backbone, strict=True)
        network.head.load_state_dict(head, strict=True)
        optimizer.load_state_dict(checkpoint.extras['optimizer'])
    except (AttributeError, KeyError, TypeError, ValueError, RuntimeError) as error:
        raise RealnetError(f'{path}: its weights do not fit this run ({first_line(error, skip_header=True)}); '
                           'it cannot be resumed from') from error


def _meta(config, data, spec, epoch, val_loss) -> dict:
    return {'subject': config.subject, 'subjects': list(config.group), 'modality': config.modality,
            'backbone': spec.to_meta(), 'epoch': epoch, 'val_loss': val_loss,
            'config': config.record(), 'data_fingerprint': data.fingerprint, 'package_version': __version__,
            'n_train_images': len(data.train), 'n_validation_images': len(data.validation)}


def _save(path: Path, network: ReAlnet, data: _Data, meta: dict, optimizer=None, best=None):
    """Student + head in the published ReAlnet layout, plus what a user or --resume needs."""
    extras = {'eeg_mean': torch.from_numpy(data.mean), 'eeg_std': torch.from_numpy(data.std)}
    if optimizer is not None:
        extras.update(optimizer=optimizer.state_dict(), best_val_loss=best)
    write_checkpoint(path, network.backbone.state_dict(), network.head.state_dict(), meta, **extras)


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
