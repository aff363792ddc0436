"""One cell's job, as submitit runs it (in this process, a local process or a SLURM array task):
`brainscore train` with the cell's options into DIR/cells/<id>/run (with --resume, so a requeued or
retried job continues from last.pt), then its best checkpoint scored. The job writes the cell's
status itself, and never over a finished cell's files."""
import json
import subprocess
import sys
import traceback
from dataclasses import dataclass
from pathlib import Path

from submitit.helpers import Checkpointable, DelayedSubmission

from ..errors import RealnetError, first_line, printable
from .spec import Cell, train_parser
from .status import cell_lock, read_status, write_status, written_once


@dataclass
class CellJob(Checkpointable):
    folder: Path               # DIR/cells/<id>
    cell: Cell
    score: dict                # the sweep's [score]
    subjects: list             # the sweep's subjects (the transfer matrix's columns)
    gpus: int = 0              # GPUs the job has: more than one trains under torchrun
    requeued: int = 0          # times submitit checkpointed this job before a requeue

    def __call__(self) -> str:
        """'done', 'failed', or 'busy' when another job runs this cell now (left alone)."""
        with cell_lock(self.folder) as held:
            if not held:
                return 'busy'
            previous = read_status(self.folder)
            if previous is not None and previous['state'] == 'done':
                return 'done'  # finished by an earlier job: nothing of it is written again
            attempt = (previous or {}).get('attempt', 0) + 1
            phase = 'training'
            write_status(self.folder, 'running', phase=phase, attempt=attempt, requeued=self.requeued)
            try:
                checkpoint = self._train()
                phase = 'scoring'
                write_status(self.folder, 'running', phase=phase, attempt=attempt, requeued=self.requeued)
                from .scoring import score_cell
                outcome = score_cell(checkpoint, self.folder, self.score, self.cell.options, self.subjects)
            except Exception as error:  # the cell fails, the sweep goes on; the traceback goes to the job's log
                traceback.print_exc()
                write_status(self.folder, 'failed', phase=phase, attempt=attempt, error=failure_line(error))
                return 'failed'
            write_status(self.folder, 'done', attempt=attempt, requeued=self.requeued,
                         checkpoint=str(checkpoint.relative_to(self.folder)), **outcome)
            return 'done'

    def checkpoint(self, *args, **kwargs) -> DelayedSubmission:
        """submitit calls this on preemption or time-out, then requeues the job: the requeued job
        runs train with --resume, which continues from the last finished epoch's last.pt."""
        self.requeued += 1
        return DelayedSubmission(self, *args, **kwargs)

    def _train(self) -> Path:
        """The run's best.pt (last.pt if no epoch was kept as best), training first unless an
        earlier attempt finished training (then only its scoring failed or was interrupted)."""
        run = self.folder / 'run'
        if not finished_runs(run):
            argv = self.cell.train_argv(run)
            if self.gpus > 1:
                _torchrun(argv, self.gpus)
            else:
                args = parse_train_args(argv)
                args.run(args)
        summaries = finished_runs(run)
        if len(summaries) != 1:
            raise RealnetError(f'{run}: expected one finished run after training, found {len(summaries)}')
        folder = summaries[0].parent
        return folder / 'best.pt' if (folder / 'best.pt').is_file() else folder / 'last.pt'


def finished_runs(run: Path) -> list[Path]:
    """The summary.json files of the runs in ``run``: train writes one when a run ends."""
    return sorted(run.glob('*/summary.json'))


def parse_train_args(argv: list[str]):
    """``argv`` read by train's own parser; what it refuses is a RealnetError of its one line."""
    parser = train_parser()

    def refuse(message):
        raise RealnetError(f'brainscore train refuses {printable(" ".join(argv))[:300]}: {message}')
    parser.error = refuse
    return parser.parse_args(argv)


def failure_line(error: BaseException) -> str:
    """The failure as one line, options named by their flags as `brainscore train` would print them."""
    from ..cli.options import with_flags
    if isinstance(error, RealnetError):
        return printable(with_flags(first_line(error)))
    return printable(f'unexpected {type(error).__name__}: {first_line(error)}')


def _torchrun(argv: list[str], processes: int):
    """train under torchrun, one process per GPU of the job; its last error line is the failure's."""
    command = [sys.executable, '-m', 'torch.distributed.run', '--standalone', f'--nproc_per_node={processes}',
               '-m', 'realnet_brainscore.cli', 'train', *argv]
    print('running', ' '.join(command), flush=True)
    finished = subprocess.run(command, stderr=subprocess.PIPE, text=True, errors='replace')
    sys.stderr.write(finished.stderr)
    if finished.returncode != 0:
        errors = [line for line in finished.stderr.splitlines() if line.startswith('brainscore: error:')]
        raise RealnetError(errors[-1].removeprefix('brainscore: error: ') if errors else
                           f'torchrun exited with status {finished.returncode}')


def cell_settings(cell: Cell) -> dict:
    """What DIR/cells/<id>/settings.json holds: the cell's train options and which of them the grid varied."""
    return {'cell': cell.identifier, 'options': cell.options, 'varied': cell.varied}


def write_settings(folder: Path, cell: Cell):
    """settings.json, written once; a folder holding other settings is another sweep's and is refused."""
    path = folder / 'settings.json'
    wanted = cell_settings(cell)
    if written_once(path, wanted, f'{path}: holds other settings than this sweep gives the cell; move {folder} away'):
        return
    from ..files import atomic_path
    with atomic_path(path) as partial:
        partial.write_text(json.dumps(wanted, indent=1) + '\n')
