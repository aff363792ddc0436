"""ReAlnet for Brain-Score: CORnet-S aligned with human EEG, as Brain-Score models and benchmarks.

    >>> import realnet_brainscore
    >>> realnet_brainscore.list_models()
    ['cornet-s', 'realnet-s01', ..., 'realnet-s10']
    >>> model = realnet_brainscore.load_model('realnet-s01')   # a Brain-Score ModelCommitment
    >>> benchmark = realnet_brainscore.load_benchmark('Gifford2022.IT-temporal_rsa', things_eeg2='THINGS-EEG2')
    >>> score = benchmark(model)
"""
__version__ = '0.1.0'

from .errors import RealnetError
from .models import list_models, load_model, load_network
from .plugin import list_benchmarks, load_benchmark

__all__ = ['RealnetError', 'list_benchmarks', 'list_models', 'load_benchmark', 'load_model', 'load_network',
           '__version__']
