"""Where a sweep's cells run, all through submitit: ``debug`` in this process one after another (for
tests), ``local`` as processes of this machine (one at a time, or ``parallel`` at once, each with its
own GPUs), ``slurm`` as one job array (each task with its GPUs, CPUs, memory and time limit; torchrun
inside a task that has several GPUs). Settings come from ``[executor]`` (for the executor its
``name`` names) and ``[executor.<name>]`` (for that one), each key checked here."""
import time
from dataclasses import replace
from pathlib import Path

from ..errors import RealnetError, first_line, printable

EXECUTORS = ('local', 'slurm', 'debug')
DEFAULT_TIMEOUT_MIN = {'local': 7 * 24 * 60, 'slurm': 24 * 60}
# key -> (what it is, its type, its default); None: not set unless given
SETTINGS = {
    'debug': {},
    'local': {
        'parallel': ('cells run at once', int, 1),
        'gpus_per_node': ('GPUs each job sees (default: the GPUs here shared out between the parallel jobs)', int, None),
        'timeout_min': ('minutes a job may run before it is checkpointed and requeued', int, DEFAULT_TIMEOUT_MIN['local']),
        'requeues': ('times a job may be requeued after its time limit', int, 3),
    },
    'slurm': {
        'partition': ('the SLURM partition', str, None), 'account': ('the account charged', str, None),
        'qos': ('quality of service', str, None), 'constraint': ('node features, e.g. "a100"', str, None),
        'gpus_per_node': ('GPUs of each task (more than one: train under torchrun)', int, 1),
        'cpus_per_task': ('CPUs of each task', int, None), 'mem_gb': ('memory of each task in GB', (int, float), None),
        'timeout_min': ('time limit of each task in minutes', int, DEFAULT_TIMEOUT_MIN['slurm']),
        'array_parallelism': ('tasks of the array running at once (default: every cell)', int, None),
        'setup': ('shell lines run before the task (module load, source venv/bin/activate)', list, None),
        'requeues': ('times a task may be requeued after preemption or its time limit', int, 3),
        'job_name': ('the job name', str, 'brainscore-sweep'),
    },
}


def executor_settings(path, table: dict, chosen: str | None) -> tuple[str, dict]:
    """(executor name, its settings with defaults): ``chosen`` (--executor) or [executor] name or local."""
    named = table.get('name', 'local')
    if named not in EXECUTORS:
        raise RealnetError(f'{path}: [executor] name: {printable(repr(named))[:40]}; one of {", ".join(EXECUTORS)}')
    name = chosen or named
    given = {}
    for key, value in table.items():
        if key == 'name':
            continue
        if key in EXECUTORS:
            if not isinstance(value, dict):
                raise RealnetError(f'{path}: [executor] {key}: expected a table, [executor.{key}]')
            checked = _checked(path, f'executor.{key}', key, value)
            given.update(checked if key == name else {})
        elif named == name:
            given[key] = _checked(path, 'executor', named, {key: value})[key]
        else:
            _checked(path, 'executor', named, {key: value})  # the named executor's: still checked
    return name, {key: given.get(key, default) for key, (_, _, default) in SETTINGS[name].items()}


def _checked(path, table: str, executor: str, values: dict) -> dict:
    known = SETTINGS[executor]
    for key, value in values.items():
        if key not in known:
            takes = ', '.join(known) or 'no settings'
            raise RealnetError(f'{path}: [{table}] {printable(key)}: not a setting of the {executor} executor ({takes})')
        kind = known[key][1]
        good = isinstance(value, kind) and not isinstance(value, bool)
        if kind is list:
            good = good and all(isinstance(line, str) for line in value)
        elif good and kind in (int, (int, float)):
            good = value >= (0 if key in ('gpus_per_node', 'requeues') else 1)
        if not good:
            raise RealnetError(f'{path}: [{table}] {key}: expected {_kind_name(kind, key)}, got '
                               f'{printable(repr(value))[:60]}')
    return values


def _kind_name(kind, key: str) -> str:
    if kind is list:
        return 'a list of shell lines'
    if kind is str:
        return 'a string'
    return 'a whole number, 0 or more' if key in ('gpus_per_node', 'requeues') else 'a positive number'


def run_jobs(name: str, settings: dict, jobs: list, folder: Path, say=print) -> dict:
    """Each CellJob run by the executor ``name``; {cell: outcome}: 'done'/'failed'/'busy' when the
    executor waits for them (debug, local), or the SLURM job id of the submitted array task."""
    submitit = require_submitit()
    if not jobs:
        return {}
    if name == 'debug':
        executor = submitit.DebugExecutor(folder)
        return {job.cell.identifier: _outcome(executor.submit(job), say, job) for job in jobs}
    if name == 'local':
        return _run_locally(submitit.LocalExecutor(folder, max_num_timeout=settings['requeues']), settings, jobs, say)
    return _submit_to_slurm(submitit, settings, jobs, folder, say)


def require_submitit():
    """submitit, which the `sweep` extra installs; one line saying so where it is missing."""
    try:
        import submitit
    except ImportError:
        raise RealnetError("sweeps run through submitit: pip install 'realnet-brainscore[sweep]'") from None
    return submitit


def _outcome(submitted, say, job) -> str:
    """What a finished submitit job returned; a job that died without a result counts as failed
    (its cell's status says where it stopped)."""
    try:
        outcome = submitted.result()
    except Exception as error:  # submitit's UncompletedJobError, FailedJobError: the job itself died
        outcome = 'failed'
        say(f'{job.cell.identifier}: the job ended without a result ({first_line(error)[:200]})')
    say(f'{job.cell.identifier}: {outcome}')
    return outcome


def _run_locally(executor, settings: dict, jobs: list, say) -> dict:
    """``parallel`` jobs at a time, each slot with its own GPUs; Ctrl-C cancels the running ones."""
    slots, here = settings['parallel'], local_gpu_count()
    per_job = settings['gpus_per_node']
    if per_job is None:  # the GPUs here shared out; with fewer GPUs than slots, jobs share them
        per_job = max(here // slots, 1) if here else 0
    executor.update_parameters(timeout_min=settings['timeout_min'], gpus_per_node=per_job)
    waiting, running, outcomes = list(jobs), {}, {}
    try:
        while waiting or running:
            for slot in [s for s in range(slots) if s not in running][:len(waiting)]:
                job = replace(waiting.pop(0), gpus=per_job)
                executor.update_parameters(visible_gpus=slot_gpus(slot, per_job, here))
                running[slot] = (job, executor.submit(job))
                say(f'{job.cell.identifier}: started (local job {running[slot][1].job_id})')
            time.sleep(0.2)
            for slot, (job, submitted) in list(running.items()):
                if submitted.done():
                    outcomes[job.cell.identifier] = _outcome(submitted, say, job)
                    del running[slot]
    except BaseException:
        for _, submitted in running.values():
            submitted.cancel()
        raise
    return outcomes


def slot_gpus(slot: int, per_job: int, here: int) -> tuple:
    """The GPUs the job in local slot ``slot`` sees: the slot's own share, wrapping round when the
    machine has fewer than the slots need (or, with none found, as numbered)."""
    return tuple((slot * per_job + index) % (here or slot * per_job + per_job) for index in range(per_job))


def local_gpu_count() -> int:
    import torch
    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def _submit_to_slurm(submitit, settings: dict, jobs: list, folder: Path, say) -> dict:
    """One array (one task per cell), not waited for: `brainscore sweep status` follows it."""
    try:
        executor = submitit.SlurmExecutor(folder, max_num_timeout=settings['requeues'])
    except RuntimeError as error:
        raise RealnetError(f'--executor slurm: {first_line(error)} (sbatch and srun must be on PATH: run the sweep '
                           'on a login node of the cluster)') from None
    executor.update_parameters(**slurm_parameters(settings, len(jobs)))
    gpus = settings['gpus_per_node']
    with executor.batch():
        submitted = [executor.submit(replace(job, gpus=gpus)) for job in jobs]
    for job, task in zip(jobs, submitted):
        say(f'{job.cell.identifier}: submitted (SLURM job {task.job_id})')
    return {job.cell.identifier: task.job_id for job, task in zip(jobs, submitted)}


def slurm_parameters(settings: dict, cells: int) -> dict:
    """submitit's SlurmExecutor parameters (sbatch's names) for [executor] slurm's settings."""
    mem = settings['mem_gb']
    parameters = {'job_name': settings['job_name'], 'time': settings['timeout_min'],
                  'gpus_per_node': settings['gpus_per_node'] or None, 'cpus_per_task': settings['cpus_per_task'],
                  'partition': settings['partition'], 'account': settings['account'], 'qos': settings['qos'],
                  'constraint': settings['constraint'], 'setup': settings['setup'],
                  'array_parallelism': settings['array_parallelism'] or cells,
                  'mem': None if mem is None else f'{int(mem)}GB' if mem == int(mem) else f'{int(mem * 1024)}MB'}
    return {key: value for key, value in parameters.items() if value is not None}
