"""Benchmarks by identifier: this package's Brain-Score plugins, found, listed and loaded the way
Brain-Score does, and Brain-Score's own.

Brain-Score discovers a plugin by scanning ``<plugins>/*/__init__.py`` for ``benchmark_registry['id']``
lines and importing that folder, whose ``__init__`` registers into ``brainscore_vision``'s registry.
The same scan runs here over ``realnet_brainscore/benchmarks``.
"""
import importlib
import re
from pathlib import Path

from .errors import RealnetError, first_line

_REGISTRATION = re.compile(r"""benchmark_registry\[['"]([^'"]+)['"]\]""")


def plugins_dir() -> Path:
    from . import benchmarks
    return Path(benchmarks.__file__).parent


def _registrations() -> dict[str, str]:
    """benchmark identifier -> plugin folder name."""
    found = {}
    for init in sorted(plugins_dir().glob('*/__init__.py')):
        for identifier in _REGISTRATION.findall(init.read_text(encoding='utf-8')):
            found[identifier] = init.parent.name
    return found


def list_benchmarks(data=None) -> list[str]:
    """This package's benchmarks, or those the data-set card ``data`` gives (any of Brain-Score's own
    loads too, see ``load_benchmark``)."""
    return list(card_benchmarks(data)) if data is not None else list(_registrations())


def card_benchmarks(card) -> dict:
    """identifier -> factory of the benchmarks a data-set card (data/card.py) gives: M/EEG, temporal
    RSA per model region, ``<name>.<region>-temporal_rsa``; fMRI, ROI RSA per ROI, ``<name>.<ROI>-rsa``."""
    from .benchmarks.gifford2022_temporal_rsa.benchmark import TemporalRSA
    from .benchmarks.shen2019_rsa.benchmark import ShenRSA
    from .data.card import load_card
    found = load_card(card)
    if found.modality == 'fMRI':
        return {f'{found.name}.{roi}-rsa': lambda roi=roi: ShenRSA(roi, region=found.region_of(roi), data=card,
                                                                   name=found.name) for roi in found.rois}
    return {f'{found.name}.{region}-temporal_rsa': lambda region=region: TemporalRSA(region, data=card, name=found.name)
            for region in CARD_REGIONS}


CARD_REGIONS = ('V1', 'V2', 'V4', 'IT')  # the model regions an M/EEG data set's benchmarks compare


def load_benchmark(identifier: str, strict: bool = True, **data):
    """The benchmark ``identifier``: ours, with ``data`` overriding where it finds its data and how
    it scores (``things_eeg2=DIR``, ``shen2019=DIR``, ``screen``, ``method``…), one a data-set card
    gives (``data=CARD``: ``<name>.<region>-temporal_rsa``, ``<name>.<ROI>-rsa``), or any of
    Brain-Score's own (e.g. ``MajajHong2015public.IT-pls``), which take none. An option the benchmark
    does not take is an error, or ignored with ``strict=False``; None leaves its default. Errors are
    one line."""
    card = data.pop('data', None)
    folder = _registrations().get(identifier)
    if card is not None and folder is not None:
        raise RealnetError(f'{identifier} reads its own data set, not the card {card}; the card gives '
                           f'{", ".join(card_benchmarks(card))}')
    factories = card_benchmarks(card) if card is not None else {}
    if identifier in factories:
        benchmark = factories[identifier]()
    elif folder is None:
        return _brainscore_benchmark(identifier, strict, data)
    else:
        importlib.import_module(f'realnet_brainscore.benchmarks.{folder}')
        from brainscore_vision import benchmark_registry
        benchmark = benchmark_registry[identifier]()
    for option, value in data.items():
        if value is None:
            continue
        if not hasattr(benchmark, option):
            if not strict:
                continue
            raise RealnetError(f'{identifier} takes no {option.replace("_", "-")} option')
        setattr(benchmark, option, value)
    return benchmark


def _brainscore_benchmark(identifier: str, strict: bool, data: dict):
    given = [option for option, value in data.items() if value is not None]
    if strict and given:  # e.g. --screen whole would be silently ignored
        raise RealnetError(f"{identifier} is Brain-Score's own benchmark: it takes no {given[0].replace('_', '-')} "
                           'option')
    import brainscore_vision
    try:
        return brainscore_vision.load_benchmark(identifier)
    except AssertionError as error:
        if 'No registrations found' in str(error):
            raise RealnetError(f"unknown benchmark '{identifier}': no Brain-Score plugin registers it") from error
        raise RealnetError(f"benchmark '{identifier}' could not be loaded: {first_line(error)}") from error
    except Exception as error:  # e.g. its data cannot be fetched offline
        raise RealnetError(f"benchmark '{identifier}' could not be loaded: {why_unavailable(error)}") from error


def why_unavailable(error: Exception) -> str:
    """Why a benchmark cannot load or score here, in one line (Brain-Score's storage unreachable, …)."""
    text = first_line(error)
    if 'Could not connect to the endpoint' in text or 'Unable to locate credentials' in text:
        url = text.split('URL: "')[-1].split('"')[0] if 'URL: "' in text else 'Brain-Score storage'
        return f'its data is not local and cannot be downloaded here ({url})'
    return f'{type(error).__name__}: {text}'[:300]
