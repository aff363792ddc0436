"""How a run is carried out, not what it trains: where it writes, on which device, with what help.
None of these is recorded; a run may be resumed with other ones."""
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import bounds
from ..errors import RealnetError
from ..files import writable_folder
from ..weights import realnet_home
from .recipe import check_count


@dataclass(frozen=True)
class Runtime:
    out: Path                            # run folders are made in here: out/sub-01, out/group
    device: str | None = None            # None: this process's CUDA GPU if there is one, else the CPU
    workers: int | None = None           # processes decoding images for the cache; None: one per CPU
    cache_dir: Path | None = None        # the image cache; None: $REALNET_HOME/cache
    resume: bool = False                 # continue the runs in out from their last epoch
    progress: bool = True

    def check(self):
        check_count('workers', self.workers, optional=True, bound=bounds.WORKERS)

    def torch_device(self, local_rank: int = 0) -> torch.device:
        """The device to train on; a name that is none, or a GPU this machine lacks, is refused in one line."""
        name = self.device or (f'cuda:{local_rank}' if torch.cuda.is_available() else 'cpu')
        try:
            device = torch.device(name)
        except (RuntimeError, TypeError) as error:
            raise RealnetError(f'`device` {name!r} is not a device; use cpu, cuda or cuda:N') from error
        if device.type == 'cuda':
            count = torch.cuda.device_count() if torch.cuda.is_available() else 0
            if (device.index or 0) >= count:
                have = f'{count} CUDA GPU(s), cuda:0 to cuda:{count - 1}' if count else 'no usable CUDA GPU'
                raise RealnetError(f'`device` {name}: this machine has {have}; use `device` cpu or another GPU')
        elif device.type == 'mps':
            if not torch.backends.mps.is_available():
                raise RealnetError(f'`device` {name}: MPS is not available here; use `device` cpu')
        elif device.type != 'cpu':
            raise RealnetError(f'`device` {name}: training runs on cpu, cuda or mps')
        return device

    @property
    def image_cache(self) -> Path:
        return Path(self.cache_dir) if self.cache_dir else realnet_home() / 'cache'

    def check_image_cache(self):
        """The image cache's folder can be written (made if missing)."""
        try:
            writable_folder(self.image_cache)
        except RealnetError as error:
            where = '' if self.cache_dir else '; set $REALNET_HOME to a folder that can be written'
            raise RealnetError(f'image cache: {error}{where}') from error
