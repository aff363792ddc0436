from brainscore_vision import benchmark_registry

from .benchmark import TemporalRSA

benchmark_registry['Gifford2022.V1-temporal_rsa'] = lambda: TemporalRSA('V1')
benchmark_registry['Gifford2022.V2-temporal_rsa'] = lambda: TemporalRSA('V2')
benchmark_registry['Gifford2022.V4-temporal_rsa'] = lambda: TemporalRSA('V4')
benchmark_registry['Gifford2022.IT-temporal_rsa'] = lambda: TemporalRSA('IT')
