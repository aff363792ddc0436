"""This package's Brain-Score benchmark plugins: found, listed and loaded the way Brain-Score does.

Brain-Score discovers a plugin by scanning ``<plugins>/*/__init__.py`` for ``benchmark_registry['id']``
lines and importing that folder, whose ``__init__`` registers into ``brainscore_vision``'s registry.
The same scan runs here over ``realnet_brainscore/benchmarks``.
"""
import importlib
import re
from pathlib import Path

from .errors import RealnetError

_REGISTRATION = re.compile(r"""benchmark_registry\[['"]([^'"]+)['"]\]""")


def plugins_dir() -> Path:
    import realnet_brainscore.benchmarks as plugins
    return Path(plugins.__file__).parent


def _registrations() -> dict[str, str]:
    """benchmark identifier -> plugin folder name."""
    found = {}
    for init in sorted(plugins_dir().glob('*/__init__.py')):
        for identifier in _REGISTRATION.findall(init.read_text(encoding='utf-8')):
            found[identifier] = init.parent.name
    return found


def list_benchmarks() -> list[str]:
    return list(_registrations())


def load_benchmark(identifier: str, strict: bool = True, **data):
    """Our benchmark ``identifier``; ``data`` overrides where it finds its data (e.g. ``things_eeg2=DIR``).
    An option the benchmark does not take is an error, or ignored with ``strict=False``."""
    folder = _registrations().get(identifier)
    if folder is None:
        raise RealnetError(f"unknown benchmark '{identifier}'; this package has: {', '.join(list_benchmarks())}")
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
