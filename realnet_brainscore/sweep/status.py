"""Where each cell stands: its status file (written atomically by the cell's job: running, then done
or failed with the failure's one line) and its lock (held by the job while it runs). A status of
running whose lock nobody holds is a job that was killed or preempted: it counts as failed, and a
re-run (or submitit's requeue) resumes it from its last.pt."""
import contextlib
import datetime
import fcntl
import json
import os
import socket
import time
from pathlib import Path

from ..errors import RealnetError, first_line
from ..files import atomic_path

STATUS_FILE = 'status.json'
LOCK_FILE = '.cell.lock'
STATES = ('done', 'running', 'failed', 'pending')
INTERRUPTED = 'stopped while running (killed, preempted or out of time); a re-run resumes it from its last.pt'
JOB_VARIABLES = ('SLURM_ARRAY_JOB_ID', 'SLURM_JOB_ID', 'SUBMITIT_LOCAL_JOB_ID', 'SUBMITIT_DEBUG_JOB_ID')


def read_status(folder) -> dict | None:
    """The cell's status file, None when it has none yet; a file that is not one is refused in one line."""
    path = Path(folder) / STATUS_FILE
    if not path.exists():
        return None
    try:
        status = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as error:
        raise RealnetError(f'{path}: not a cell status file ({first_line(error)}); delete it to run the cell again')
    if not isinstance(status, dict) or status.get('state') not in ('done', 'running', 'failed'):
        raise RealnetError(f'{path}: not a cell status file (no state); delete it to run the cell again')
    return status


def written_once(path: Path, wanted, refusal: str) -> bool:
    """True when the JSON file ``path`` already holds ``wanted``, False when it is absent (the caller
    writes it); a file holding anything else, or unreadable, is another sweep's: ``refusal``, one line."""
    if not path.exists():
        return False
    try:
        kept = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError):
        kept = None
    if kept != wanted:
        raise RealnetError(refusal)
    return True


def write_status(folder, state: str, **details) -> dict:
    """The cell's status, replaced atomically, with where and when it was written."""
    status = {'state': state, 'host': socket.gethostname(), 'pid': os.getpid(),
              'job': next((os.environ[v] for v in JOB_VARIABLES if v in os.environ), None),
              'written': datetime.datetime.now().astimezone().isoformat(timespec='seconds'), **details}
    with atomic_path(Path(folder) / STATUS_FILE) as partial:
        partial.write_text(json.dumps(status, indent=1) + '\n')
    return status


@contextlib.contextmanager
def cell_lock(folder, wait_s: float = 5.0):
    """Yields True while this process holds the cell's lock, False if another job holds it (after
    waiting ``wait_s`` for a status probe that holds it for an instant). flock: released when the
    process ends, however it ends."""
    path = Path(folder) / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, 'a') as lock:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    yield False
                    return
                time.sleep(0.2)
        try:
            yield True
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def locked(folder) -> bool:
    """Whether a job holds the cell's lock now."""
    path = Path(folder) / LOCK_FILE
    if not path.exists():
        return False
    with open(path, 'a') as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(lock, fcntl.LOCK_UN)
        return False


def cell_state(folder) -> tuple[str, str]:
    """(state, one line): done (its scores), running (where), failed (why), pending (not started)."""
    status = read_status(folder)
    if status is None:
        return ('running', 'starting') if locked(folder) else ('pending', 'not started')
    if status['state'] == 'done':
        return 'done', _scores_line(status)
    if status['state'] == 'failed':
        return 'failed', str(status.get('error', 'no reason recorded'))
    if locked(folder):
        return 'running', f"{status.get('phase', 'running')} on {status.get('host')} (job {status.get('job')})"
    return 'failed', f"{INTERRUPTED} (during {status.get('phase', 'its run')})"


def _scores_line(status: dict) -> str:
    results = status.get('results') if isinstance(status.get('results'), dict) else {}
    scored = [f'{benchmark} {result["score"]:.3f}' for benchmark, result in results.items()
              if isinstance(result, dict) and isinstance(result.get('score'), (int, float))]
    missing = len(results) - len(scored)
    return ', '.join(scored) + (f' ({missing} unavailable)' if missing else '')


def sweep_states(directory) -> dict[str, tuple[str, str]]:
    """{cell identifier: (state, line)} for every cell folder of the sweep in ``directory``."""
    cells = Path(directory) / 'cells'
    return {folder.name: cell_state(folder) for folder in sorted(cells.iterdir()) if folder.is_dir()} \
        if cells.is_dir() else {}
