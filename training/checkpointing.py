"""A run's folder: its lock, last.pt and best.pt, log.jsonl and summary.json, and the checks that
decide whether a run in it may be resumed."""
import contextlib
import fcntl
import json
import os
from pathlib import Path

import torch

from .. import __version__
from ..checkpoint import FORMAT, Checkpoint, read_checkpoint, split_state_dict, write_checkpoint
from ..encoder import ReAlnet
from ..errors import RealnetError, first_line, printable
from ..files import atomic_path, partial_files, regular_file
from .recipe import Recipe, _number, _whole

RUN_FILES = ('last.pt', 'best.pt', 'log.jsonl', 'summary.json')
RESUME_ADVICE = 'it cannot be resumed from: move it away or choose another `out`'
# Settings a run of an earlier version did not record, and what that version trained with (the
# default of a later recipe would pass an old run off as trained so).
UNRECORDED = {'forward_passes': 1, 'precision': 'bf16'}
LOCK_FILE = '.train.lock'


def recorded_settings(recipe: Recipe, source) -> dict:
    """What a checkpoint records as the run's settings, and what resuming it must match: the
    subjects and the resolved recipe."""
    return {'subject': source.subject, 'group': list(source.group), **recipe.record()}


@contextlib.contextmanager
def run_lock(folder: Path):
    """Holds an exclusive lock on the run folder for the whole run: a second train into it fails at
    once. The folder (and any missing folder above it) is made here and removed again if the run
    ends with nothing in it, so bad input leaves no trace. While the lock is held nothing else
    writes here, so partial files a killed run left are removed. A lock file that is no regular
    file is refused unopened: opening a FIFO to write waits for a reader, forever."""
    made = [path for path in (folder, *folder.parents) if not path.exists()]  # innermost first
    folder.mkdir(parents=True, exist_ok=True)
    lock_file = folder / LOCK_FILE
    try:
        regular_file(lock_file, 'lock file', missing_ok=True)
        with open(lock_file, 'a') as lock:
            if not _lock(lock, lock_file):
                raise RealnetError(f'{folder}: another train run holds it (its lock file {LOCK_FILE}); '
                                   'wait for that run to end or choose another `out`')
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


def prepare_folder(folder: Path, settings: dict, resume: bool):
    """(checkpoint to resume from or None, the run's log) — refuses a folder that holds any file of
    a run unless resuming, and a run that cannot be resumed with these ``settings`` (as recorded)."""
    held = [name for name in RUN_FILES if (folder / name).exists()]
    if not held:
        return None, []
    if not resume:
        raise RealnetError(f'{folder} already holds a run ({", ".join(held)}); pass `resume` to continue it or '
                           'choose another `out`')
    if 'last.pt' not in held:
        raise RealnetError(f'{folder} holds {", ".join(held)} but no last.pt to resume from; move them away '
                           'or choose another `out`')
    missing = [name for name in ('best.pt', 'log.jsonl') if name not in held]
    # on the test images no best.pt is right while no epoch has beaten the first (the notebook's rule)
    if missing and not (missing == ['best.pt'] and settings.get('select_on') == 'test'):
        raise _incomplete(folder, missing)
    checkpoint = read_last(folder / 'last.pt')
    changed = changed_settings(checkpoint.meta['config'], settings)
    if changed and changed != ['epochs']:
        raise RealnetError(f'{folder}: `resume` with other settings than the run ({", ".join(changed)})')
    log = read_log(folder / 'log.jsonl', checkpoint.meta['epoch'])
    if missing and selected(log, 'test') is not None:
        raise _incomplete(folder, missing)
    return checkpoint, log


def _incomplete(folder: Path, missing: list[str]) -> RealnetError:
    return RealnetError(f'{folder} holds last.pt but not {" or ".join(missing)}: an incomplete run that '
                        'cannot be resumed; choose another `out`')


def selected(log: list, select_on: str) -> dict | None:
    """The log record of the epoch best.pt holds: the first with the lowest loss; on the test images
    the first below the first epoch's loss (the bar, never saved), None if none is."""
    if select_on == 'test':
        first = next((r['val_loss'] for r in log if r['epoch'] == 1), None)
        log = [r for r in log if r['epoch'] > 1 and first is not None and r['val_loss'] < first]
    return min(log, key=lambda r: r['val_loss']) if log else None


def changed_settings(recorded: dict, settings: dict) -> list[str]:
    """The names of ``settings`` a run recorded otherwise; a setting newer than the run counts as
    recorded with its default."""
    defaults = {**Recipe().record(), **UNRECORDED}
    return sorted(k for k in settings if settings[k] != recorded.get(k, defaults.get(k)))


def read_last(path: Path) -> Checkpoint:
    """last.pt of a run of this trainer; anything else (truncated, another kind of file or format, a
    plain state dict, an epoch outside 1 … the run's epochs, a best loss that is no finite number) is
    refused in one line."""
    checkpoint = read_checkpoint(regular_file(path, 'checkpoint'), advice=RESUME_ADVICE)
    meta, extras = checkpoint.meta, checkpoint.extras
    config = meta.get('config')
    # as in changed_settings: a setting the run did not record counts as recorded with its default
    epochs = config.get('epochs', Recipe.epochs) if isinstance(config, dict) else None
    if not (meta.get('format') == FORMAT and _whole(epochs) and _whole(meta.get('epoch'))
            and 1 <= meta['epoch'] <= epochs and isinstance(meta.get('data_fingerprint'), str)
            and isinstance(extras.get('optimizer'), dict) and _number(extras.get('best_val_loss'))):
        raise RealnetError(f'{path}: not a last.pt written by brainscore train; {RESUME_ADVICE}')
    return checkpoint


def read_log(file: Path, epoch: int) -> list:
    """The log's records up to ``epoch`` (those of a later epoch belong to a last.pt never written);
    each a mapping of names to finite numbers, with a whole ``epoch`` of at least 1 and a ``val_loss``."""
    lines = regular_file(file, 'log').read_text(errors='replace').splitlines()
    records = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except (ValueError, RecursionError) as error:  # RecursionError: JSON nested too deep
            raise _not_a_log(file, number, first_line(error)) from error
        problem = _log_problem(record)
        if problem:
            raise _not_a_log(file, number, problem)
        if record['epoch'] <= epoch:
            records.append(record)
    return records


def _log_problem(record) -> str:
    """What makes ``record`` no record of this trainer's log ('' if nothing does)."""
    if not isinstance(record, dict):
        return f'a {type(record).__name__}, not a record'
    for name in ('epoch', 'val_loss'):
        if name not in record:
            return f"no '{name}'"
    if not (_whole(record['epoch']) and record['epoch'] >= 1):
        return f"'epoch' {printable(repr(record['epoch']))[:40]} is not a whole number of at least 1"
    wrong = [name for name, value in record.items() if not _number(value)]
    return f"'{printable(wrong[0])[:40]}' is not a finite number" if wrong else ''


def _not_a_log(file: Path, number: int, problem: str) -> RealnetError:
    return RealnetError(f'{file}: not a log written by brainscore train ({problem}, line {number}); move the run '
                        'away or choose another `out`')


def restore(checkpoint: Checkpoint, path: Path, network: ReAlnet, optimizer):
    try:
        backbone, head = split_state_dict(checkpoint.state_dict)
        network.backbone.load_state_dict(backbone, strict=True)
        network.head.load_state_dict(head, strict=True)
        optimizer.load_state_dict(checkpoint.extras['optimizer'])
    except (AttributeError, KeyError, TypeError, ValueError, RuntimeError) as error:
        raise RealnetError(f'{path}: its weights do not fit this run ({first_line(error, skip_header=True)}); '
                           'it cannot be resumed from') from error


def epoch_meta(source, settings: dict, data, spec, epoch: int, val_loss: float) -> dict:
    return {'subject': source.subject, 'subjects': list(source.group), 'modality': source.modality,
            'data_set': source.set_name, 'backbone': spec.to_meta(), 'epoch': epoch, 'val_loss': val_loss,
            'config': settings, 'data_fingerprint': data.fingerprint, 'package_version': __version__,
            'n_train_images': len(data.train), 'n_validation_images': len(data.validation)}


def save_epoch(folder: Path, aligner, data, meta: dict, log: list, improved: bool, best: float):
    """best.pt (if the epoch improved), the log, then last.pt: a run killed in between resumes from
    the epoch before, whose log it cuts to that epoch."""
    if improved:
        _save(folder / 'best.pt', aligner.network, data, meta)
    with atomic_path(folder / 'log.jsonl') as partial:
        partial.write_text(''.join(json.dumps(r) + '\n' for r in log))
    _save(folder / 'last.pt', aligner.network, data, meta, optimizer=aligner.optimizer, best=best)


def _save(path: Path, network: ReAlnet, data, meta: dict, optimizer=None, best=None):
    """Student + head in the published ReAlnet layout, plus what a user or resume needs."""
    extras = {'eeg_mean': torch.from_numpy(data.mean), 'eeg_std': torch.from_numpy(data.std)}
    if optimizer is not None:
        extras.update(optimizer=optimizer.state_dict(), best_val_loss=best)
    write_checkpoint(path, network.backbone.state_dict(), network.head.state_dict(), meta, **extras)


def summarise(folder: Path, source, epochs: int, log: list, select_on: str = 'validation') -> dict:
    """summary.json of a finished run, written and returned; on the test images with no epoch below
    the first, best_epoch, best_val_loss and best_checkpoint are null (no best.pt, as the notebook)."""
    best = selected(log, select_on)
    none_beat_first = select_on == 'test' and log and best is None
    if not none_beat_first and (best is None or not (folder / 'best.pt').is_file()):  # files moved away
        raise RealnetError(f'{folder}: best.pt or the log of its epochs is missing; the run has no summary')
    summary = {'subject': source.subject, 'subjects': list(source.group), 'modality': source.modality,
               'data_set': source.set_name, 'epochs': epochs, 'best_epoch': best and best['epoch'],
               'best_val_loss': best and best['val_loss'],
               'best_checkpoint': best and str(folder / 'best.pt'),
               'final_checkpoint': str(folder / 'last.pt'), 'package_version': __version__}
    with atomic_path(folder / 'summary.json') as partial:
        partial.write_text(json.dumps(summary, indent=2) + '\n')
    return summary
