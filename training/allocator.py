"""Training on the CPU keeps the memory it frees for its next step.

Every step allocates the same activations and gradients again. glibc's malloc gives large freed
blocks back to the system (mmap'ed chunks; trimming the heap), so each step faulted the pages of its
tensors in anew: a quarter of the CPU time of a CORnet-S step at 64 px went to the kernel. Keeping
them (no mmap'ed chunks, no trimming) made a step about 30 % faster on a 2-core CPU (5.8 -> 7.7
images/s; ``python timing/training_step.py --quick``). The price: the process keeps its peak memory
until it ends, so the library never calls this itself: `brainscore train` (and the timing script)
do, for their own process. Other C libraries (macOS, musl) are left as they are.
"""
import ctypes
import ctypes.util

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # mallopt parameters, <malloc.h>
NEVER_TRIM = 2 ** 31 - 1


def keep_freed_memory() -> bool:
    """Tells glibc's malloc to keep freed memory in this process (and the processes it forks); whether
    it could."""
    name = ctypes.util.find_library('c')
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError, TypeError):  # no C library found, or not glibc
        return False
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, NEVER_TRIM))
