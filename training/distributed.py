"""Data-parallel training under torchrun (WORLD_SIZE > 1): each process takes its share of every
epoch's batches, the losses are summed over processes, and only rank 0 writes. A no-op otherwise."""
import os

import numpy as np
import torch


class Distributed:
    """This process's place among torchrun's; the process group is started on creation."""

    def __init__(self):
        self.size = int(os.environ.get('WORLD_SIZE', '1'))
        self.rank = int(os.environ.get('RANK', '0'))
        self.local_rank = int(os.environ.get('LOCAL_RANK', '0'))
        if self.size > 1 and not torch.distributed.is_initialized():
            backend = 'nccl' if torch.cuda.is_available() else 'gloo'
            if backend == 'nccl':
                torch.cuda.set_device(self.local_rank)
            torch.distributed.init_process_group(backend)

    def wrap(self, network, device):
        if self.size == 1:
            return network
        from torch.nn.parallel import DistributedDataParallel
        return DistributedDataParallel(network, device_ids=[device.index] if device.type == 'cuda' else None)

    def shard(self, order: np.ndarray) -> np.ndarray:
        return order[self.rank::self.size] if self.size > 1 else order

    def reduce(self, sums: dict) -> dict:
        """Sums over all processes."""
        if self.size == 1:
            return sums
        keys = sorted(sums)
        values = torch.stack([torch.as_tensor(sums[k], dtype=torch.float64).cpu() for k in keys])
        if torch.distributed.get_backend() == 'nccl':
            values = values.cuda()
        torch.distributed.all_reduce(values)
        return dict(zip(keys, values.tolist()))

    def barrier(self):
        if self.size > 1:
            torch.distributed.barrier()

    def close(self):
        if self.size > 1 and torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
