"""Readers that turn published data files into Brain-Score assemblies, and where our benchmarks
find those files."""
import os
from pathlib import Path

import numpy as np

from ..errors import RealnetError

# The environment variable naming each data set's folder when none is given.
ENVIRONMENT = {'things_eeg2': 'REALNET_THINGS_EEG2', 'shen2019': 'REALNET_SHEN2019'}
# What a benchmark reads without a folder: THINGS-EEG2's test set is hosted by Brain-Score; Shen 2019 is not.
HOSTED = {'things_eeg2': "Brain-Score's Gifford2022_test", 'shen2019': None}


def data_folder(dataset: str, folder=None) -> str | None:
    """The folder of ``dataset`` ('things_eeg2' or 'shen2019'): ``folder``, else its ENVIRONMENT
    variable, resolved; None when neither is set."""
    folder = folder or os.environ.get(ENVIRONMENT[dataset])
    return str(Path(folder).resolve()) if folder else None


def data_source(dataset: str, folder=None) -> str | None:
    """What our benchmarks read ``dataset`` from: its ``data_folder``, else its HOSTED copy (None: nothing)."""
    return data_folder(dataset, folder) or HOSTED[dataset]


def check_float32(array, what: str) -> np.ndarray:
    """``array`` as float32, the form every reader returns; a value beyond float32's range (±3.4e38,
    finite as float64, infinite once cast) is one line naming ``what``, not an inf deep in a score."""
    with np.errstate(over='ignore'):
        cast = np.asarray(array).astype(np.float32)
    if not np.isfinite(cast).all():
        largest = float(np.nanmax(np.abs(np.asarray(array, dtype=np.float64))))
        raise RealnetError(f'{what}: values as large as {largest:g} do not fit in 32-bit floats (at most '
                           f'{float(np.finfo(np.float32).max):g}); expected preprocessed data')
    return cast
