"""The command line's one exit policy: what each way a command can end prints and returns.

0: done. 2: a problem the user can fix, in one line: a RealnetError, a file that cannot be read or
written, a full, read-only or failing disk, memory that the sizes asked for do not fit in.
1: anything else ("unexpected"; -v shows the traceback). 130: Ctrl-C. 143: SIGTERM, which ends a
command as Ctrl-C does (partial files and locks removed on the way out). 141: stdout was closed by
its reader (``brainscore models | head -1``): quietly, as a program killed by SIGPIPE would end.
Every line is printed through ``printable``: messages quote text from files."""
import contextlib
import errno
import os
import re
import select
import signal
import sys
import threading
import traceback

from ..errors import RealnetError, first_line, printable
from .options import with_flags

DONE, UNEXPECTED, USER_ERROR, INTERRUPTED, CLOSED_STDOUT, TERMINATED = 0, 1, 2, 130, 141, 143

# OS errors without a file name that come from the user's machine or limits, not from a bug: what
# the disk, quota, ulimit or permissions allow. Each is one line, with what can be done about it.
MACHINE_LIMITS = {
    errno.ENOSPC: 'free some space where --out or $REALNET_HOME lies, or choose another place',
    errno.EDQUOT: 'the disk quota is used up; free some space or choose another --out or $REALNET_HOME',
    errno.EFBIG: 'a file grew past the file-size limit (ulimit -f) or what the file system holds',
    errno.EROFS: 'choose a writable --out or $REALNET_HOME',
    errno.EIO: 'the disk or network file system failed; check it and run again',
    errno.EMFILE: 'raise the limit of open files (ulimit -n) or lower --workers',
    errno.EACCES: 'check the permissions of the files and folders this command uses',
    errno.ENAMETOOLONG: 'choose shorter names or a shorter --out',
}
MEMORY_ADVICE = ('lower the sizes asked for (--image-size, --batch-size, --pool, --workers), check the sizes the '
                 'data files declare, or free memory')
# torch's out-of-memory errors are RuntimeErrors (torch.OutOfMemoryError for CUDA; a plain one from
# its CPU allocator): recognised by their words, so that torch need not be imported here.
_TORCH_OUT_OF_MEMORY = re.compile(r"DefaultCPUAllocator: (can't allocate memory|not enough memory)|out of memory",
                                  re.IGNORECASE)
_ALLOCATION = re.compile(r'tried to allocate [\d.]+ ?\w+', re.IGNORECASE)


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread. A KeyboardInterrupt, so every ``finally`` and
    ``except KeyboardInterrupt`` that cleans up after Ctrl-C (partial files, locks, decoder
    processes) does so for SIGTERM too."""


class Policy:
    """Runs a command under the policy; ``verbose`` (-v) is set once the arguments are parsed."""
    verbose = False

    def run(self, command) -> int:
        """``command()``'s exit status (None is 0). SystemExit (argparse's --help, a bad flag) passes."""
        try:
            with _sigterm_raises():
                try:
                    status = command() or DONE
                except SystemExit:
                    _flush_stdout()  # --version's text: a closed stdout ends as below, not at exit
                    raise
                _flush_stdout()
            return status
        except SystemExit:
            raise
        except BaseException as error:  # Ctrl-C and SIGTERM too: they are exits of their own
            return self.status_of(error)

    def status_of(self, error: BaseException) -> int:
        if isinstance(error, KeyboardInterrupt):
            _say('brainscore: terminated' if isinstance(error, Terminated) else 'brainscore: interrupted')
            return TERMINATED if isinstance(error, Terminated) else INTERRUPTED
        if isinstance(error, BrokenPipeError) and _reader_gone(sys.stdout):
            _to_devnull(sys.stdout)  # what is still buffered would fail again at exit
            return CLOSED_STDOUT
        if self.verbose:
            _say(''.join(traceback.format_exception(error)).rstrip('\n'), lines=True)
        message = user_error(error)
        if message is None:
            if not self.verbose:
                _say(f'brainscore: unexpected {type(error).__name__}: {first_line(error)} '
                     '(rerun with -v for the traceback)')
            return UNEXPECTED
        _say(f'brainscore: error: {message}')
        return USER_ERROR


def user_error(error: BaseException) -> str | None:
    """The one line for a problem the user can fix (exit 2); None for an unexpected error (exit 1).
    An OSError naming a path is one: a file or folder they named, or $REALNET_HOME, that cannot be
    read or written; so is one naming no path that their disk or limits cause."""
    if isinstance(error, RealnetError):
        return with_flags(str(error))
    if out_of_memory(error):
        return f'out of memory ({_allocation(error)}); {MEMORY_ADVICE}'
    if isinstance(error, OSError) and error.filename is not None:
        return f'{error.filename}: {error.strerror or first_line(error)}'
    if isinstance(error, OSError) and error.errno in MACHINE_LIMITS:
        return f'{error.strerror or os.strerror(error.errno)}; {MACHINE_LIMITS[error.errno]}'
    return None


def out_of_memory(error: BaseException) -> bool:
    if isinstance(error, MemoryError):
        return True
    if isinstance(error, OSError):
        return error.errno == errno.ENOMEM and error.filename is None
    return isinstance(error, RuntimeError) and bool(_TORCH_OUT_OF_MEMORY.search(str(error)))


def _allocation(error: BaseException) -> str:
    """What could not be allocated, as the error says it: torch's "tried to allocate 80 GiB" (its
    first line starts with the allocator's source line), numpy's "Unable to allocate ... shape"."""
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    found = _ALLOCATION.search(str(error))
    return found[0] if found else first_line(error)


@contextlib.contextmanager
def _sigterm_raises():
    """SIGTERM raises Terminated in the main thread for the duration; the handler found is restored
    after. Left alone: off the main thread (only it may set handlers: a command run from a thread),
    a SIGTERM ignored at start (nohup-like parents mean it to be), a handler not set from Python
    (it could not be restored)."""
    found = signal.getsignal(signal.SIGTERM)
    if threading.current_thread() is not threading.main_thread() or found in (signal.SIG_IGN, None):
        yield
        return
    signal.signal(signal.SIGTERM, _terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, found)


def _terminate(signum, frame):
    raise Terminated()


def _say(text: str, lines: bool = False):
    """``text`` on stderr, escaped: one line, a newline inside it (from a file name) shown as ``\\n``;
    with ``lines`` (a traceback) each of its lines escaped. A closed stderr loses the words, not the
    exit status (nor, through the flush at exit, adds a status of its own)."""
    if sys.stderr is None:  # print(file=None) would write to stdout
        return
    try:
        shown = '\n'.join(printable(line) for line in text.split('\n')) if lines else printable(text)
        print(shown, file=sys.stderr, flush=True)
    except (OSError, ValueError):  # a broken pipe, or a stream already closed
        _to_devnull(sys.stderr)


def _flush_stdout():
    """Here, not at interpreter exit: there a closed stdout is a message of Python's and status 120."""
    if sys.stdout is not None:  # no console (pythonw)
        sys.stdout.flush()


def _reader_gone(stream) -> bool:
    """Whether ``stream`` is a pipe or socket whose reading end is closed: poll reports an error or
    a hang-up on it (a file or terminal never does)."""
    try:
        poller = select.poll()
        poller.register(stream.fileno(), select.POLLOUT)
        return any(events & (select.POLLERR | select.POLLHUP) for _, events in poller.poll(0))
    except (AttributeError, ValueError, OSError):  # no file descriptor (captured) or closed
        return False


def _to_devnull(stream):
    """Points ``stream``'s file descriptor at /dev/null, so writes and the flush at exit succeed."""
    with contextlib.suppress(AttributeError, ValueError, OSError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, stream.fileno())
        os.close(devnull)
