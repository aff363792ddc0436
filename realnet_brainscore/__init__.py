"""ReAlnet for Brain-Score: CORnet-S aligned with human EEG, as Brain-Score models and benchmarks.

    >>> import realnet_brainscore
    >>> realnet_brainscore.list_models()
    ['cornet-s', 'realnet-s01', ..., 'realnet-s10']
    >>> model = realnet_brainscore.load_model('realnet-s01')   # a Brain-Score ModelCommitment
    >>> benchmark = realnet_brainscore.load_benchmark('Gifford2022.IT-temporal_rsa', things_eeg2='THINGS-EEG2')
    >>> score = benchmark(model)
    >>> record = realnet_brainscore.ScoreRecord.from_score(score, model.identifier, benchmark.identifier, benchmark)

``load_benchmark`` loads this package's benchmarks (``list_benchmarks()``) and Brain-Score's own
(e.g. ``MajajHong2015public.IT-pls``); a ``ScoreRecord`` is a score with what it was made of, as JSON
(``to_json``, ``from_json``).
"""
__version__ = '0.1.0'

from .errors import RealnetError
from .models import list_models, load_model, load_network
from .plugin import list_benchmarks, load_benchmark
from .records import ScoreRecord

__all__ = ['RealnetError', 'ScoreRecord', 'list_benchmarks', 'list_models', 'load_benchmark', 'load_model',
           'load_network', '__version__']
