"""Small file helpers: atomic writes and content digests."""
import contextlib
import hashlib
import os
import tempfile
from pathlib import Path


@contextlib.contextmanager
def atomic_path(destination):
    """Yield a temporary path beside ``destination``; it replaces ``destination`` only on success.

    Readers therefore see the old file or the complete new one, never a half-written one, and an
    error (or Ctrl-C) leaves nothing behind.
    """
    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=destination.parent, prefix=f'.{destination.name}.',
                                         suffix='.partial')
    os.close(handle)
    try:
        yield Path(temporary)
        os.chmod(temporary, 0o666 & ~_umask())  # mkstemp makes it private; a plain open() would not
        os.replace(temporary, destination)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def file_digest(path, algorithm: str) -> str:
    """Hex digest of a file's bytes (``algorithm`` as in hashlib: 'sha1', 'sha256')."""
    with open(path, 'rb') as stream:
        return hashlib.file_digest(stream, algorithm).hexdigest()
