"""Stepping the students of a ``--together`` pass: on the CPU several at once, each worker process
taking a fixed share of them on one CPU thread.

Why: one CORnet-S step at batch 16 may keep a CPU's cores only partly busy (on this package's
2-core test machine two threads made it 1.75 to 1.9 times faster than one; ten students in two
processes took 2 % less time than one after another). Why processes, not threads:
ten students stepped two at a time by two threads of one process gave 7.5 subject-images/s, by two
processes 9.2 (2-core CPU, 64 px, the same run). Why one thread each: a process forked after OpenMP
has run cannot start OpenMP threads of its own (GNU libgomp hangs).

Before the workers are forked, each student's weights, buffers and optimiser state are moved into
shared memory, so the workers' updates are this process's: it saves checkpoints as if it had
stepped the students itself. A worker is sent each batch (images, teacher logits, its students'
targets) and answers with their loss terms. A student's numbers are then a lone run's with one CPU
thread, bit for bit.
"""
import mmap
import multiprocessing
import signal
import traceback

import numpy as np
import torch

from ..errors import RealnetError


class Students:
    """``map(function, own, *shared)`` calls ``function(aligner, own[i], *shared)`` for every
    student and gives the results in order. ``workers`` (default: one per CPU thread, at most one per
    student): how many students step at once; more than one, on the CPU: in worker processes (not
    more than there are students, so that a lone student too steps on one thread), otherwise one
    after another here."""

    def __init__(self, aligners: list, device, workers: int | None = None):
        self.aligners = aligners
        workers = workers or min(len(aligners), torch.get_num_threads())
        self.workers = min(len(aligners), workers) if workers > 1 and torch.device(device).type == 'cpu' else 0
        self.processes, self.connections = [], []

    def __enter__(self):
        if self.workers:
            for aligner in self.aligners:
                _into_shared_memory(aligner)
            fork = multiprocessing.get_context('fork')
            for share in self._shares(self.aligners):
                here, there = fork.Pipe()
                self.connections.append(here)
                process = fork.Process(target=_serve, args=(there, share, self.connections), daemon=True)
                process.start()
                there.close()
                self.processes.append(process)
        return self

    def __exit__(self, *exc):
        for connection in self.connections:
            connection.close()  # a worker reads the end of its pipe and leaves
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.terminate()
        self.processes, self.connections = [], []

    def _shares(self, items: list) -> list[list]:
        return [items[w::self.workers] for w in range(self.workers)]

    def map(self, function, own: list, *shared) -> list:
        if not self.connections:
            return [function(aligner, mine, *shared) for aligner, mine in zip(self.aligners, own)]
        shared = _to_wire(shared)
        for connection, share in zip(self.connections, self._shares(_to_wire(own))):
            connection.send((function, share, shared))
        replies = [self._reply(w) for w in range(self.workers)]  # every reply first: no worker is left mid-answer
        results = [None] * len(self.aligners)
        for w, (status, value) in enumerate(replies):
            if status == 'error':
                raise value
            results[w::self.workers] = _from_wire(value)
        return results

    def _reply(self, w: int):
        try:
            return self.connections[w].recv()
        except (EOFError, OSError):
            self.processes[w].join(timeout=10)
            return 'error', RealnetError(f'a student worker process ended (exit code {self.processes[w].exitcode}) '
                                         'while stepping; rerun with --resume, or with --parallel-students 1')


def _serve(connection, aligners: list, parents_ends: list):
    """A worker's loop: step its students on each batch sent, until the pipe closes."""
    for end in parents_ends:  # copies forked with this process: the pipes must close when the parent ends
        end.close()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it then closes the pipe
    torch.set_num_threads(1)
    while True:
        try:
            function, own, shared = connection.recv()
        except (EOFError, OSError):
            return
        try:
            shared = _from_wire(shared)
            results = [function(aligner, mine, *shared) for aligner, mine in zip(aligners, _from_wire(own))]
            connection.send(('ok', _to_wire(results)))
        except Exception as error:  # noqa: BLE001 - raised again in the parent, with this worker's traceback
            connection.send(('error', _worker_error(error)))


def _worker_error(error: Exception) -> Exception:
    if isinstance(error, RealnetError):
        return error
    return RuntimeError(f'in a student worker process: {traceback.format_exc()}')


class _Tensor:
    """A CPU tensor on its way through a pipe, as a NumPy array: pickled by value, so no shared-memory
    handles pass between processes for each batch."""

    def __init__(self, tensor: torch.Tensor):
        self.array = tensor.detach().numpy()


def _to_wire(value):
    return _replaced(value, torch.Tensor, _Tensor)


def _from_wire(value):
    return _replaced(value, _Tensor, lambda wire: torch.from_numpy(np.asarray(wire.array)))


def _replaced(value, kind: type, convert):
    """``value`` with each ``kind`` in it (inside lists, tuples and dicts too) converted."""
    if isinstance(value, kind):
        return convert(value)
    if isinstance(value, (list, tuple)):
        return type(value)(_replaced(v, kind, convert) for v in value)
    if isinstance(value, dict):
        return {k: _replaced(v, kind, convert) for k, v in value.items()}
    return value


def _into_shared_memory(aligner):
    """Moves the student's weights, buffers and optimiser state into shared memory, in place (every
    tensor keeps its identity); processes forked afterwards write to the same memory. Each tensor
    gets a mapping of its own: a checkpoint saves a tensor's whole storage."""
    if getattr(aligner, 'in_shared_memory', False):
        return
    _start_optimizer_state(aligner.optimizer)
    state = (v for values in aligner.optimizer.state.values() for v in values.values() if isinstance(v, torch.Tensor))
    for tensor in {id(t): t for t in [*aligner.network.parameters(), *aligner.network.buffers(), *state]}.values():
        memory = mmap.mmap(-1, max(1, tensor.numel() * tensor.element_size()))  # anonymous, shared with forks
        shared = torch.frombuffer(memory, dtype=tensor.dtype, count=tensor.numel()).view(tensor.shape)
        shared.copy_(tensor)
        tensor.data = shared
    aligner.in_shared_memory = True


def _start_optimizer_state(optimizer: torch.optim.Optimizer):
    """Adam makes its state at its first step, which must happen before the fork to be shared. A step
    on zero gradients makes it without moving a weight (its update is lr · 0 / (0 + eps); no weight
    decay), and its step count is then set back to 0: the state of an Adam that has not stepped."""
    if optimizer.state:  # resumed: restored from the checkpoint
        return
    params = [p for group in optimizer.param_groups for p in group['params'] if p.requires_grad]
    if any(group.get('weight_decay') for group in optimizer.param_groups):
        raise RealnetError('parallel students need an optimiser without weight decay')
    for param in params:
        param.grad = torch.zeros_like(param)
    optimizer.step()
    for param in params:
        param.grad = None
        optimizer.state[param]['step'].zero_()
