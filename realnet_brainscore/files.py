"""Small file helpers: atomic writes, content digests, and reading pickled .npy files safely."""
import contextlib
import glob
import hashlib
import math
import os
import pickle
import socket
import stat
import tempfile
from pathlib import Path

import numpy as np

from .errors import RealnetError, printable

# What np.save writes when it pickles numpy arrays, dicts, lists, strings and numbers: nothing else
# may be named by a data file (a pickle naming, say, os.system would run it while being read).
NUMPY_PICKLE_GLOBALS = {('numpy', 'ndarray'), ('numpy', 'dtype'),
                        ('numpy.core.multiarray', '_reconstruct'), ('numpy.core.multiarray', 'scalar'),
                        ('numpy._core.multiarray', '_reconstruct'), ('numpy._core.multiarray', 'scalar')}


@contextlib.contextmanager
def atomic_path(destination):
    """Yield a temporary path beside ``destination``; it replaces ``destination`` only on success.

    Readers therefore see the old file or the complete new one, never a half-written one, and an
    error (or Ctrl-C) leaves nothing behind. A process killed outright cannot clean up: its
    temporary file carries its process id and host, and the next write to ``destination`` on that
    host removes it (a folder shared between machines keeps another host's, which may be live).
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    _remove_orphaned_partials(destination)
    handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=f'.{destination.name}.{_writer()}.',
                                         suffix='.partial')
    os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private; a plain open() would not
        os.replace(temporary, destination)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def writable_folder(folder) -> Path:
    """``folder`` once it is shown that files can be made there: it, or the nearest folder above it
    that exists, receives a temporary file that is removed at once. Nothing is created for good, so
    a refused command leaves no trace; call it before any long work."""
    folder = Path(folder)
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise RealnetError(f'{folder}: cannot be a folder, {existing} is a file')
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as error:
        raise RealnetError(f'{folder}: cannot write there ({error.strerror or error})') from error
    return folder


def new_folder(folder, option: str = '`out`', inputs=()) -> Path:
    """``folder`` once a command may fill it: absent or an empty folder, in a writable place, neither
    one of the command's ``inputs`` nor inside one; ``option`` names what the folder was given as."""
    folder = Path(folder)
    outside_inputs(folder, inputs, option)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise RealnetError(f'{folder} exists and is not an empty folder; choose a new {option}')
    return writable_folder(folder)


def output_file(path, inputs=(), force: bool = False) -> Path:
    """``path`` once it may receive a command's output file: not a folder, not one of the command's
    ``inputs`` nor inside one (``force`` or not), not an existing file unless ``force``, in a folder
    that can be written."""
    path = Path(path)
    if path.is_dir():
        raise RealnetError(f'{path} is a folder; name a file to write')
    outside_inputs(path, inputs, 'file to write')
    if path.exists() and not force:
        raise RealnetError(f'{path} exists; pass `force` to replace it, or name another file')
    writable_folder(path.parent)
    return path


def outside_inputs(path, inputs, what: str = 'output') -> Path:
    """``path`` once it is shown to be none of a command's ``inputs`` (files or folders it reads; None
    entries are skipped) and to lie inside none of them, after following every link (a hard link to an
    input is the input too): an output may never replace what the command reads, ``force`` or not."""
    resolved = Path(path).resolve()
    for given in inputs:
        if given is None or str(given) == '':
            continue
        source = Path(given).resolve()
        if resolved == source or _same_file(resolved, source):
            raise RealnetError(f'{path} is also an input of this command ({given}); name another {what}')
        if source in resolved.parents:
            raise RealnetError(f'{path} lies inside {given}, an input of this command; name another {what}, '
                               'outside it')
    return Path(path)


def _same_file(path: Path, other: Path) -> bool:
    try:
        return os.path.samefile(path, other)
    except OSError:  # either does not exist (yet): not the same file
        return False


def regular_file(path, what: str = 'file', missing_ok: bool = False) -> Path | None:
    """``path`` once it is shown, without opening it, to be a regular file (through any links): a
    FIFO would block the reader forever, a device or socket is no file of ours, a dangling link names
    nothing. With ``missing_ok`` an absent path (not a dangling link) gives None: a cache not yet made."""
    path = Path(path)
    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        if missing_ok and not path.is_symlink():
            return None
        raise RealnetError(f'{path}: no such {what}' + (' (a link to nothing)' if path.is_symlink() else '')) from None
    if not stat.S_ISREG(mode):
        kind = 'a folder' if stat.S_ISDIR(mode) else 'a FIFO' if stat.S_ISFIFO(mode) else 'a special file'
        raise RealnetError(f'{path} is {kind}, not a regular {what}; remove it or name another')
    return path


def inside(root, path, what: str = 'file') -> Path:
    """``path`` (a path under the folder ``root``, as the data set's names make it) once it is shown to
    lie inside ``root``: by its name always (no absolute name, no '..' leading out), and through its
    links too unless ``REALNET_FOLLOW_DATA_LINKS=1`` says that links out of the folder are the user's
    own (an image folder kept on another disk). A data set's files stay in its folder, whatever its
    metadata names."""
    root, path = Path(root), Path(path)
    named = Path(os.path.normpath(os.path.abspath(path)))
    follow = os.environ.get('REALNET_FOLLOW_DATA_LINKS', '') not in ('', '0')
    checks = [(Path(os.path.abspath(root)), named)] + ([] if follow else [(root.resolve(), path.resolve())])
    for base, candidate in checks:
        if candidate != base and base not in candidate.parents:
            raise RealnetError(f'{printable(str(path))}: this {what} lies outside its data folder {root}; data sets may '
                               'only name files inside their own folder (REALNET_FOLLOW_DATA_LINKS=1 allows links '
                               'that lead out)')
    return named if follow else path.resolve()


def partial_files(folder, names: str) -> list[Path]:
    """atomic_path's temporary files in ``folder`` for the destinations whose names match the glob
    pattern ``names``: ``.<name>.<pid>-<host>.<random>.partial``."""
    return list(Path(folder).glob(f'.{names}.*.partial'))


def _writer() -> str:
    """Who writes a temporary file: this process's id and this machine's name (without dots)."""
    return f'{os.getpid()}-{socket.gethostname().replace(".", "_")}'


def _remove_orphaned_partials(destination: Path):
    """atomic_path's temporary files for ``destination`` written on this machine by a process that
    no longer runs."""
    prefix = f'.{destination.name}.'
    host = _writer().partition('-')[2]
    for partial in partial_files(destination.parent, glob.escape(destination.name)):
        pid, _, writer_host = partial.name[len(prefix):].split('.')[0].partition('-')
        if pid.isdigit() and writer_host == host and not process_running(int(pid)):
            with contextlib.suppress(OSError):
                partial.unlink()


def process_running(pid: int) -> bool:
    """Whether process ``pid`` exists on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_digest(path, algorithm: str) -> str:
    """Hex digest of a file's bytes (``algorithm`` as in hashlib: 'sha1', 'sha256')."""
    with open(path, 'rb') as stream:
        return hashlib.file_digest(stream, algorithm).hexdigest()


class _NumpyOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) not in NUMPY_PICKLE_GLOBALS:
            raise pickle.UnpicklingError(f'it names {module}.{name}')
        return super().find_class(module, name)


def npy_header(stream) -> tuple[tuple, bool, np.dtype]:
    """(shape, fortran_order, dtype) of the ``.npy`` file open in ``stream``, which is left at the
    start of its data; ValueError for a file that is not one."""
    readers = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}
    version = np.lib.format.read_magic(stream)
    if version not in readers:
        raise ValueError(f'.npy format version {version} is not supported')
    return readers[version](stream)


def read_npy(path):
    """An ``np.save``d array; an object array (e.g. a saved dict) is unpickled admitting only numpy
    arrays, dtypes and scalars besides pickle's own dicts, lists, strings and numbers. Anything
    else is refused with one line naming the file, before any of it runs."""
    try:
        with open(path, 'rb') as stream:
            shape, _, dtype = npy_header(stream)
            if not dtype.hasobject:
                _check_npy_size(path, stream, shape, dtype)
                stream.seek(0)
                return np.load(stream, allow_pickle=False)
            return _NumpyOnlyUnpickler(stream).load()
    except pickle.UnpicklingError as refused:
        raise RealnetError(f'{path}: refused: {refused}, which a data file of this kind never holds '
                           '(reading it could run code)') from refused


def _check_npy_size(path, stream, shape: tuple, dtype: np.dtype) -> None:
    """The data a ``.npy`` header declares (shape × item size, counted in Python integers, which do
    not overflow) must be the bytes that follow it: a header declaring 10^12 elements is refused
    before numpy allocates them."""
    declared = math.prod(shape) * dtype.itemsize
    present = os.fstat(stream.fileno()).st_size - stream.tell()
    if declared != present:
        raise RealnetError(f'{path}: its header declares shape {shape} of {dtype} ({declared} bytes) but '
                           f'{present} bytes of data follow; a damaged or forged .npy file')
