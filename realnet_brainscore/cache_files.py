"""This package's cache files: a ``.npy`` array followed by one line of JSON that says what it holds.

A cache is ours only if it says so: the line after the array carries the key it was computed under
(and, where reading every byte is cheap enough, a digest of the array), and a file whose line is
missing, damaged or of another key is not used but rebuilt. ``np.load`` reads exactly the array's
bytes, so the line after them is invisible to it (and to ``mmap_mode``). Only regular files are
opened: a FIFO, device, folder or dangling link in a cache's place is refused in one line.
"""
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .files import npy_header, regular_file

MARK = b'\n#realnet-cache '
MAX_RECORD = 4096  # bytes: a record line is a few keys and hex digests


@dataclass(frozen=True)
class Kept:
    """What a cache file's header and record line say: the array's shape and dtype, where its data
    start, and the record (a dict)."""
    shape: tuple
    dtype: np.dtype
    offset: int
    record: dict


def append_record(stream, **record) -> None:
    """Ends a cache file whose array has just been written to ``stream`` with its record line."""
    stream.write(MARK + json.dumps(record, sort_keys=True).encode() + b'\n')


def kept(path, what: str) -> Kept | None:
    """The header and record of the cache file ``path``; None if it is absent, or not whole (cut
    short, no record line, a damaged one, an object array). A path that is there but is no regular
    file (FIFO, device, folder, dangling link) is refused in one line without being opened."""
    if regular_file(path, what, missing_ok=True) is None:
        return None
    try:
        with _open(path) as stream:
            shape, fortran_order, dtype = npy_header(stream)
            offset, size = stream.tell(), os.fstat(stream.fileno()).st_size
            end = offset + dtype.itemsize * math.prod(shape)
            if fortran_order or dtype.hasobject or not 0 < size - end <= MAX_RECORD:
                return None
            stream.seek(end)
            line = stream.read()
    except (OSError, ValueError):  # unreadable, not .npy, an unknown .npy version
        return None
    if not (line.startswith(MARK) and line.endswith(b'\n')):
        return None
    try:
        record = json.loads(line[len(MARK):])
    except (ValueError, RecursionError):  # RecursionError: brackets nested past the parser's depth
        return None
    return Kept(tuple(shape), dtype, offset, record) if isinstance(record, dict) else None


def read_array(path: Path, kept_file: Kept) -> np.ndarray:
    """The array of a cache file whose header ``kept`` has read and found fitting (OSError, ValueError
    if it changed in between)."""
    with _open(path) as stream:
        stream.seek(kept_file.offset)
        data = np.fromfile(stream, dtype=kept_file.dtype, count=math.prod(kept_file.shape))
    if data.size != math.prod(kept_file.shape):
        raise ValueError('cut short')
    return data.reshape(kept_file.shape)


def _open(path):
    """``path`` opened for reading; O_NONBLOCK: should a FIFO take the file's place after it was
    checked, opening it must not block (on a regular file the flag changes nothing)."""
    return open(path, 'rb', opener=lambda name, flags: os.open(name, flags | os.O_NONBLOCK))
