"""`brainscore sweep run`: every cell checked before any is submitted, the sweep's folder made (or
recognised as this sweep's), finished and running cells left alone, the others run or submitted."""
import json
import shutil
from pathlib import Path

from ..errors import RealnetError
from ..files import atomic_path, new_folder, outside_inputs
from .spec import Sweep, load_sweep
from .status import cell_state, written_once

PLAN_FILE = 'sweep.json'   # what decides the cells: a re-run into the folder must give the same
COPY_FILE = 'sweep.toml'   # the sweep file as first run, for the reader


def run_sweep(path, directory, executor: str | None = None, say=print) -> dict:
    """{cell: outcome} of the cells run or submitted now ('done', 'failed', 'busy' or a SLURM job id),
    and those skipped ('done' or 'running')."""
    from .executors import executor_settings, require_submitit, run_jobs
    require_submitit()  # before cell.py, which imports it
    from .cell import CellJob, write_settings
    sweep = load_sweep(path)
    name, settings = executor_settings(sweep.path, sweep.executor, executor)
    cells = sweep.cells()
    check_cells(sweep, cells, directory)
    directory = sweep_folder(sweep, directory)
    outcomes, jobs = {}, []
    for cell in cells:
        folder = directory / 'cells' / cell.identifier
        write_settings(folder, cell)
        state, line = cell_state(folder)
        if state in ('done', 'running'):  # a finished cell is never run again; a running one is its job's
            say(f'{cell.identifier}: {state}, left as it is ({line})')
            outcomes[cell.identifier] = state
        else:
            jobs.append(CellJob(folder, cell, sweep.score, sweep.subjects()))
    say(f'{len(cells)} cells: {len(cells) - len(jobs)} done or running, {len(jobs)} to run ({name} executor)')
    outcomes.update(run_jobs(name, settings, jobs, directory / 'jobs', say))
    return outcomes


def check_cells(sweep: Sweep, cells, directory):
    """Each cell's options as train reads and checks them, and [score]'s data, before anything runs:
    one line naming the sweep file and the cell."""
    from ..cli.train import checked_settings
    from .cell import parse_train_args
    from .scoring import check_scoring
    for cell in cells:
        where = f'{sweep.path}: cell {cell.identifier}'
        try:
            args = parse_train_args(cell.train_argv(Path(directory) / 'cells' / cell.identifier / 'run'))
            checked_settings(args)
        except RealnetError as error:
            from ..cli.options import with_flags
            raise RealnetError(f'{where}: {with_flags(str(error))}') from None
        check_scoring(sweep.score, cell.options, where)
        inputs = [cell.options.get(name) for name in ('things_eeg2', 'shen2019', 'data', 'backbone_weights')]
        outside_inputs(directory, inputs, '--out folder')


def sweep_folder(sweep: Sweep, directory) -> Path:
    """``directory`` once this sweep may write there: new (then it receives the plan and a copy of the
    sweep file), or holding this sweep's plan; another sweep's folder, or a folder of anything else,
    is refused."""
    directory = Path(directory)
    plan = json.loads(json.dumps(sweep.plan()))  # as it reads back from the file
    kept = directory / PLAN_FILE
    if written_once(kept, plan, f'{directory} holds another sweep ({kept} differs from {sweep.path} in [train], '
                                '[grid] or [score]); choose another --out'):
        return directory
    new_folder(directory, '--out folder')
    directory.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(sweep.path, directory / COPY_FILE)
    with atomic_path(kept) as partial:
        partial.write_text(json.dumps(plan, indent=1) + '\n')
    return directory


def read_plan(directory) -> dict:
    """The plan of the sweep in ``directory``; one line when it holds none."""
    path = Path(directory) / PLAN_FILE
    try:
        plan = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise RealnetError(f'{directory}: not a sweep folder (no {PLAN_FILE}; brainscore sweep run writes it)') from None
    except (OSError, ValueError, RecursionError) as error:
        raise RealnetError(f'{path}: not a sweep plan ({error})') from None
    if not isinstance(plan, dict) or not isinstance(plan.get('grid'), dict):
        raise RealnetError(f'{path}: not a sweep plan (no grid)')
    return plan
