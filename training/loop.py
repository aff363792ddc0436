"""Training runs epoch by epoch: ``train`` one subject's network (or a group's), ``train_together``
several subjects' networks on the same batches. Each epoch trains on the shuffled training images,
measures the held-out loss, and saves the run (checkpointing.py)."""
import contextlib
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..errors import RealnetError
from ..files import outside_inputs, writable_folder
from . import checkpointing
from .distributed import Distributed
from .objective import TERMS, Aligner, starting_backbone
from .recipe import Recipe
from .run_data import RunData
from .runtime import Runtime
from .source import Source, check_together

CHECK_EVERY = 50  # CUDA steps between reads of the losses (one GPU sync each); on the CPU every step
NON_FINITE_ADVICE = 'Lower `lr` or `beta`, or check the starting weights'
SELECT_ON_TEST_WARNING = ('`select_on` test selects the epoch on the test images, the evaluation set of the EEG '
                          'benchmarks (as the authors did): scores on them are no longer held out')
NO_BEST_WARNING = ('no epoch after the first had a test loss below the first\'s, so, as in the authors\' notebook, '
                   'no best.pt was saved')


def train(source: Source, recipe: Recipe, runtime: Runtime, on_epoch_end=None) -> dict:
    """Train one subject's ReAlnet (or a group's) into ``runtime.out``/``source.run_name``; return
    the summary. ``on_epoch_end(record)`` runs after each epoch."""
    return _train([source], recipe, runtime, on_epoch_end)[0]


def train_together(sources: list[Source], recipe: Recipe, runtime: Runtime, on_epoch_end=None) -> list[dict]:
    """Train several subjects in one pass: every student takes the same batches in the same order
    (as the authors' one seed gives), the images are prepared once and the frozen teacher runs once
    per batch; then each student steps in turn. Each subject's folder, checkpoints, log and resume
    are those of a run of its own; a record passed to ``on_epoch_end`` names its run (``'run'``)."""
    check_together(sources)
    return _train(sources, recipe, runtime, on_epoch_end)


def _train(sources: list[Source], recipe: Recipe, runtime: Runtime, on_epoch_end) -> list[dict]:
    recipe.check()
    for source in sources:
        source.check()
        source.check_fits(recipe)
    runtime.check()
    recipe = recipe.resolved()
    world = Distributed()
    device = runtime.torch_device(world.local_rank)
    folders = [writable_folder(run_folder(runtime, source, recipe)) for source in sources]
    runtime.check_image_cache()
    if recipe.select_on == 'test' and world.rank == 0:
        print(f'warning: {SELECT_ON_TEST_WARNING}', file=sys.stderr, flush=True)
    with contextlib.ExitStack() as locks:
        for folder in folders if world.rank == 0 else ():
            locks.enter_context(checkpointing.run_lock(folder))
        runs = [_Run(source, recipe, runtime, world, device, folder) for source, folder in zip(sources, folders)]
        summaries = _epochs(runs, world, on_epoch_end)
    world.close()
    return summaries


def run_folder(runtime: Runtime, source: Source, recipe: Recipe) -> Path:
    """``runtime.out``/``source.run_name`` once it is shown to stay clear of the run's inputs: not
    inside the data folder (nor `out` the backbone weights file), and the backbone weights not inside
    it, where best.pt and last.pt would replace them."""
    folder = Path(runtime.out) / source.run_name
    outside_inputs(folder, [recipe.backbone_weights, *source.inputs], '`out`')
    weights = recipe.backbone_weights
    if weights is not None and folder.resolve() in Path(weights).resolve().parents:
        raise RealnetError(f'`backbone_weights` {weights} lies inside the run folder {folder}, where the run '
                           'writes its own checkpoints; move it or choose another `out`')
    return folder


def _epochs(runs: list['_Run'], world, on_epoch_end) -> list[dict]:
    """The epochs every run still lacks (after a kill, some may be an epoch ahead); the summaries."""
    _check_same_images(runs)
    for run in runs[1:]:  # one frozen teacher: every run starts from the same weights
        run.aligner.teacher = runs[0].aligner.teacher
    epochs = runs[0].recipe.epochs
    for epoch in range(min(run.start_epoch for run in runs) + 1, epochs + 1):
        due = [run for run in runs if run.start_epoch < epoch]
        began = time.perf_counter()
        trained, validated = _train_epoch(due, world, epoch), _validate(due)
        seconds = round(time.perf_counter() - began, 2)
        for run, t, v in zip(due, trained, validated):
            run.end_epoch({'epoch': epoch, **t, **v}, seconds, world, on_epoch_end, several=len(runs) > 1)
    if world.rank:
        return [{}] * len(runs)
    summaries = [checkpointing.summarise(run.folder, run.source, epochs, run.log, run.recipe.select_on)
                 for run in runs]
    for run, summary in zip(runs, summaries):
        if summary['best_epoch'] is None:
            print(f'warning: {run.source.run_name}: {NO_BEST_WARNING} (epoch 1: {run.log[0]["val_loss"]:.4f}); '
                  f'last.pt holds epoch {epochs}', file=sys.stderr, flush=True)
    return summaries


class _Run:
    """One subject's run inside a pass: its folder, data, student and log, restored when resuming."""

    def __init__(self, source: Source, recipe: Recipe, runtime: Runtime, world, device, folder: Path):
        self.source, self.recipe, self.folder, self.progress = source, recipe, folder, runtime.progress
        self.settings = checkpointing.recorded_settings(recipe, source)
        checkpoint, self.log = checkpointing.prepare_folder(folder, self.settings, runtime.resume)
        torch.manual_seed(recipe.seed)
        student, spec = starting_backbone(recipe, runtime.progress)  # before the data: bad layers fail at once
        source.check_data(recipe.drop_nan_voxels)
        self.data = RunData(source, recipe, runtime, world, device)
        if checkpoint and checkpoint.meta['data_fingerprint'] != self.data.fingerprint:
            raise RealnetError(f'{folder}: `resume` on other data than the run (data fingerprint '
                               f'{self.data.fingerprint}, the run\'s {checkpoint.meta["data_fingerprint"]}); give '
                               'the run\'s data or choose another `out`')
        self.aligner = Aligner(student, self.data.train.targets.shape[1], recipe, device, world, spec)
        self.start_epoch, self.best = 0, math.inf
        if checkpoint:
            checkpointing.restore(checkpoint, folder / 'last.pt', self.aligner.network, self.aligner.optimizer)
            self.start_epoch, self.best = checkpoint.meta['epoch'], float(checkpoint.extras['best_val_loss'])

    def end_epoch(self, record: dict, seconds: float, world, on_epoch_end, several: bool):
        _check_validation(record, self.source.run_name if several else '')
        record['seconds'] = seconds
        record['images_per_second'] = round(len(self.data.train) / max(seconds, 1e-9), 1)
        improved, self.best = selects(self.recipe.select_on, record['epoch'], record['val_loss'], self.best)
        if world.rank == 0:
            self.log.append(record)
            meta = checkpointing.epoch_meta(self.source, self.settings, self.data, self.aligner.spec,
                                            record['epoch'], record['val_loss'])
            checkpointing.save_epoch(self.folder, self.aligner, self.data, meta, self.log, improved, self.best)
        if on_epoch_end:
            on_epoch_end({'run': self.source.run_name, **record} if several else record)


def selects(select_on: str, epoch: int, loss: float, best: float) -> tuple[bool, float]:
    """(whether epoch ``epoch`` becomes best.pt, the loss a later epoch must beat). Both rules keep
    an epoch only if its loss is strictly below every earlier one's. On the test images, as the
    notebook (``if epoch == 0: best_loss = epoch_loss`` then ``if epoch_loss < best_loss``), the
    first epoch (its epoch 0, our 1) sets the bar and is never saved as best."""
    if select_on == 'test' and epoch == 1:
        return False, loss
    return loss < best, min(best, loss)


def _check_same_images(runs: list[_Run]):
    lead = runs[0].data
    for run in runs[1:]:
        if not (np.array_equal(run.data.train.indices, lead.train.indices)
                and np.array_equal(run.data.validation.indices, lead.validation.indices)
                and run.data.image_paths == lead.image_paths):
            raise RealnetError(f'{run.source.run_name} has other images than {runs[0].source.run_name}: runs '
                               'trained together share every batch')


def _train_epoch(runs: list[_Run], world, epoch: int) -> list[dict]:
    """One pass over this process's share of the training images, in an order fixed by seed + epoch:
    each batch is prepared once and every student steps on it; the teacher runs on an image in its
    first epoch only (``Part.teacher_logits``)."""
    lead, recipe = runs[0], runs[0].recipe
    order = torch.randperm(len(lead.data.train), generator=torch.Generator().manual_seed(recipe.seed + epoch))
    order = world.shard(lead.data.train.indices[order.numpy()])
    batches = [order[i:i + recipe.batch_size] for i in range(0, len(order), recipe.batch_size)]
    if recipe.compile == 'reduce-overhead' and len(batches) > 1 and len(batches[-1]) < recipe.batch_size:
        batches.pop()  # CUDA graphs want one batch shape
    sums = [{} for _ in runs]
    checks = [FiniteCheck(len(batches), lead.aligner.device, epoch, CHECK_EVERY if lead.aligner.cuda else 1,
                          run.source.run_name if len(runs) > 1 else '') for run in runs]
    desc = f'{lead.source.run_name if len(runs) == 1 else f"{len(runs)} subjects"} epoch {epoch}/{recipe.epochs}'
    for step, indices in enumerate(tqdm(batches, desc=desc, disable=not (lead.progress and world.rank == 0),
                                        leave=False)):
        x = lead.data.train.images(indices, lead.aligner.cuda)
        teacher_logits = lead.data.train.teacher_logits(indices, x, lead.aligner.teacher_logits)
        for run, check, run_sums in zip(runs, checks, sums):
            terms = run.aligner.train_step(run.data.train.targets_of(indices), x, teacher_logits)
            check.add(step, terms)
            _accumulate(run_sums, terms, len(indices))
    for check in checks:
        check.check(len(batches))
    return [{f'train_{k}': v for k, v in _means(world.reduce(run_sums)).items()} for run_sums in sums]


def _validate(runs: list[_Run]) -> list[dict]:
    """Each run's losses on the held-out images (the same for every run): each batch is prepared once
    and the teacher run once for every student, as in training. On the test images each batch
    counts once, as the notebook's mean (``running_loss / niterates``); held-out images each once."""
    lead, part = runs[0], runs[0].data.validation
    per_batch = lead.recipe.select_on == 'test'
    sums = [{} for _ in runs]
    for i in range(0, len(part), lead.recipe.batch_size):
        indices = part.indices[i:i + lead.recipe.batch_size]
        x = part.images(indices, lead.aligner.cuda)
        teacher_logits = part.teacher_logits(indices, x, lead.aligner.teacher_logits)
        for run, run_sums in zip(runs, sums):
            terms = run.aligner.held_out_terms(run.data.validation.targets_of(indices), x, teacher_logits)
            _accumulate(run_sums, terms, 1 if per_batch else len(indices))
    return [{f'val_{k}': v for k, v in _means(run_sums).items()} for run_sums in sums]


class FiniteCheck:
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
                               f'{self.epoch}, step {step + 1} ({named}); nothing of this epoch was saved. '
                               f'{NON_FINITE_ADVICE}')
        self.checked = steps


def _check_validation(record: dict, name: str = ''):
    named = ', '.join(f'{t}={record[f"val_{t}"]}' for t in TERMS if not math.isfinite(record[f'val_{t}']))
    if named:
        raise RealnetError(f'{name + ": " if name else ""}training stopped: non-finite validation loss at epoch '
                           f'{record["epoch"]} ({named}); nothing of this epoch was saved. {NON_FINITE_ADVICE}')


def _accumulate(sums, terms, n):
    """Running sums kept on the device: reading a value each step would stall the GPU."""
    for key, value in terms.items():
        sums[key] = sums.get(key, 0.0) + value.detach().double() * n
    sums['_n'] = sums.get('_n', 0) + n


def _means(sums) -> dict:
    n = sums.get('_n', 0) or 1
    return {k: float(v) / n for k, v in sums.items() if k != '_n'}
