"""Checks on an HDF5 file (opened with h5py) before any of its data is read: it holds its own data
only, each dataset of a bounded size. Shared by the readers of HDF5 data (Shen 2019's bdpy files,
fMRI betas).

Format facts (h5py's documentation, "Groups" and "Datasets"): iterating a group yields link names
without following them; ``group.get(name, getlink=True)`` gives the link itself (HardLink, SoftLink,
ExternalLink); ``Dataset.is_virtual`` and ``Dataset.external`` say whether a dataset's data lie in
other files; ``Dataset.size`` and ``dtype.itemsize`` are the declared size, whatever is stored.
"""
from pathlib import Path

import h5py

from .. import bounds
from ..errors import RealnetError, printable


def check_own_data(path: Path, h5) -> None:
    """Every object of the file, walked through hard links only: a soft or external link, a virtual
    dataset or one stored in other files would read data from outside the data folder (or from
    anywhere in this file); a dataset declaring more than bounds.HDF5_DATASET_BYTES would be
    allocated whole when read. Each is refused in one line naming ``path``, before anything is read."""
    pending, seen = [h5], set()
    while pending:
        group = pending.pop()
        for name in group:  # names only: iterating a group follows no link
            where, link = f'{group.name.rstrip("/")}/{name}', group.get(name, getlink=True)
            if isinstance(link, (h5py.SoftLink, h5py.ExternalLink)):
                target = f'{link.filename}:{link.path}' if isinstance(link, h5py.ExternalLink) else link.path
                kind = 'an external' if isinstance(link, h5py.ExternalLink) else 'a soft'
                raise RealnetError(f'{path}: {where} is {kind} link to {printable(target)}; data files '
                                   'may hold their own data only, not links')
            item = group.get(name)
            if isinstance(item, h5py.Dataset):
                check_storage(path, item, where)
            elif isinstance(item, h5py.Group) and h5py.h5o.get_info(item.id).addr not in seen:
                seen.add(h5py.h5o.get_info(item.id).addr)  # a group hard-linked into itself is walked once
                pending.append(item)


def check_storage(path, item, where: str) -> None:
    """The dataset ``item`` (at ``where`` in ``path``) stored in this file, of a bounded declared size."""
    if item.is_virtual or item.external:
        kind = 'a virtual dataset' if item.is_virtual else 'stored in external files'
        raise RealnetError(f'{path}: {where} is {kind}; data files may hold their own data only')
    size = item.size * item.dtype.itemsize  # declared, not stored: an unwritten chunked dataset is tiny on disk
    if size > bounds.HDF5_DATASET_BYTES:
        raise RealnetError(f'{path}: {where} declares shape {item.shape} of {item.dtype} ({size} bytes), above '
                           f'the bound of {bounds.HDF5_DATASET_BYTES} bytes for one dataset; refused before reading')
