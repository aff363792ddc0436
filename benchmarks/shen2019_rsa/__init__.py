from brainscore_vision import benchmark_registry

from .benchmark import ShenRSA

benchmark_registry['Shen2019.V1-rsa'] = lambda: ShenRSA('V1')
benchmark_registry['Shen2019.V2-rsa'] = lambda: ShenRSA('V2')
benchmark_registry['Shen2019.V3-rsa'] = lambda: ShenRSA('V3')
benchmark_registry['Shen2019.V4-rsa'] = lambda: ShenRSA('V4')
benchmark_registry['Shen2019.LOC-rsa'] = lambda: ShenRSA('LOC')
benchmark_registry['Shen2019.FFA-rsa'] = lambda: ShenRSA('FFA')
benchmark_registry['Shen2019.PPA-rsa'] = lambda: ShenRSA('PPA')
benchmark_registry['Shen2019.HVC-rsa'] = lambda: ShenRSA('HVC')
