"""The stated upper bounds on sizes a flag or a file declares, checked before anything is allocated:
a number past its bound is one line naming it, not a MemoryError (or a machine swapping) later."""
from .errors import RealnetError

# Input images are resized to this square; 1024 px is 21× the pixels of the usual 224 and already
# needs tens of GB of activations a batch: beyond it is a typo, not an experiment.
IMAGE_SIZE = 1024
# The head averages each layer to pool×pool; maps are at most 56×56 at 224 px, and 32² per channel
# times a head's width already reaches gigabytes of weights.
POOL = 32
# Decoder processes for the image cache; each holds a Python interpreter (about 100 MB): 256 is
# more than the cores of any one machine.
WORKERS = 256
# Images per forward pass; 4096 at 224 px is 2.5 GB of input alone, before any activation.
BATCH_SIZE = 4096
# Subjects in one list (--subjects 1-N): the data sets have 10 (THINGS-EEG2) and 3 (Shen 2019);
# a range is counted before it is built, so 1-1000000000 never becomes a list of a billion.
SUBJECTS = 100
# Bytes of one HDF5 dataset read into memory: a Shen 2019 session is about 0.5 GB; a header
# declaring more is refused before h5py allocates it.
HDF5_DATASET_BYTES = 16 * 2 ** 30
# Pixels of one image file, read from its header before decoding: the largest published stimuli
# are 500×500; 64 Mi pixels (8192×8192) is 192 MB decoded, far past any stimulus.
IMAGE_PIXELS = 64 * 2 ** 20
# Images an in-silico release (`synth`) draws: THINGS-EEG2 has 16,740; every image is also held in
# memory as pixels for the hidden brain, so a typo of 10^9 must stop before the first is drawn.
SYNTH_IMAGES = 100_000


def check_at_most(value, bound, what: str):
    """``value`` once it is at most ``bound``; else one line naming ``what`` and the bound."""
    if value > bound:
        raise RealnetError(f'{what} {value} is above the bound of {bound}; refused before anything is allocated')
    return value
