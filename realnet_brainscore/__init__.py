"""ReAlnet for Brain-Score: CORnet-S aligned with human EEG, as Brain-Score models and benchmarks.

    >>> import realnet_brainscore
    >>> realnet_brainscore.list_models()
    ['cornet-s', 'realnet-s01', ..., 'realnet-s10']
    >>> model = realnet_brainscore.load_model('realnet-s01')   # a Brain-Score ModelCommitment
"""
__version__ = '0.1.0'

from .errors import RealnetError
from .models import list_models, load_model, load_network

__all__ = ['RealnetError', 'list_models', 'load_model', 'load_network', '__version__']
