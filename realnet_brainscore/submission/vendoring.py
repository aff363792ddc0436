"""Self-contained plugin folders for the Brain-Score website, which installs a plugin's
requirements from PyPI and nothing else. The package modules a plugin imports, and every module
they import in turn, are copied unchanged into the plugin folder as ``_realnet/``; the plugin's own
``from realnet_brainscore… import`` lines become ``from ._realnet… import``; its requirements.txt
names only what the website's brainscore_vision does not already bring, pinned as this package pins it.
"""
import ast
import functools
import importlib.metadata
import re
import sys
from pathlib import Path

from packaging.requirements import Requirement

from .. import __version__
from ..errors import RealnetError

PACKAGE = 'realnet_brainscore'
ROOT = Path(__file__).parents[1]  # the package's folder, whose modules are copied
DISTRIBUTION = 'realnet-brainscore'
VENDORED = '_realnet'  # the copy's folder inside a plugin
WEBSITE = 'brainscore-vision'  # the website's environment: this distribution and all it requires
_ABSOLUTE_IMPORT = re.compile(r'^(\s*)from realnet_brainscore(?=[. ])', re.M)
_VENDORED_INIT = f'''"""realnet-brainscore {__version__}: the modules this plugin runs on, copied unchanged by
`brainscore submission export`. Change the package and export again, not this copy."""
__version__ = {__version__!r}
'''


def self_contained(files: dict[str, bytes], extras: tuple[str, ...] = ()) -> dict[str, bytes]:
    """A plugin's files ({name: bytes}; its Python files import this package absolutely) with the
    package modules they need copied in, their imports made relative, and requirements.txt naming
    what the website lacks (``extras``: this package's optional extras the plugin needs, e.g. timm)."""
    texts = {name: content.decode('utf-8') for name, content in files.items() if name.endswith('.py')}
    roots = sorted({module for text in texts.values() for module in imported_modules(text)})
    copied = vendored(package_closure(roots))
    out = {name: content for name, content in files.items() if name != 'requirements.txt'}
    out.update({name: relative_imports(text).encode('utf-8') for name, text in texts.items()})
    out.update(copied)
    requirements = website_requirements([*texts.values(), *(c.decode('utf-8') for c in copied.values())], extras)
    if requirements:
        out['requirements.txt'] = ''.join(f'{line}\n' for line in requirements).encode()
    return out


def imported_modules(text: str) -> set[str]:
    """The modules of this package (dotted, relative to it) that ``text`` imports absolutely."""
    found = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import) and any(a.name.split('.')[0] == PACKAGE for a in node.names):
            raise RealnetError(f'plugin files must import this package as `from {PACKAGE}.MODULE import NAME`')
        if isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or '').split('.')[0] == PACKAGE:
            module = node.module[len(PACKAGE) + 1:]
            found |= {module} if module else {_submodule(alias.name) for alias in node.names}
    return found


def _submodule(name: str) -> str:
    if _module_file(name) is None:
        raise RealnetError(f'plugin files import modules, not {PACKAGE}.{name}: write `from {PACKAGE}.MODULE '
                           f'import {name}`')
    return name


def relative_imports(text: str) -> str:
    """``text`` with each ``from realnet_brainscore…`` import reading the plugin's own copy."""
    return _ABSOLUTE_IMPORT.sub(rf'\1from .{VENDORED}', text)


def package_closure(roots: list[str]) -> list[str]:
    """``roots`` and every module of this package they import (at the top or inside a function),
    with the packages that hold them; the package's own __init__ is left out (the copy gets a
    small one of its own)."""
    seen, todo = set(), list(roots)
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        if _module_file(module) is None:
            raise RealnetError(f'{PACKAGE}.{module}: no such module to copy into the plugin')
        seen.add(module)
        parts = module.split('.')
        todo += ['.'.join(parts[:i]) for i in range(1, len(parts))]
        todo += _relative_imports_of(module)
    return sorted(seen)


def _relative_imports_of(module: str) -> list[str]:
    """The modules of this package that ``module`` imports relatively (the root package left out)."""
    path = _module_file(module)
    package = module.split('.') if path.name == '__init__.py' else module.split('.')[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding='utf-8'))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - node.level + 1] + (node.module.split('.') if node.module else [])
            names = ['.'.join(base + [alias.name]) for alias in node.names]
            found += [name for name in ['.'.join(base), *names] if name and _module_file(name) is not None]
    return found


@functools.cache
def _module_file(module: str) -> Path | None:
    path = ROOT.joinpath(*module.split('.'))
    for candidate in (path.with_suffix('.py'), path / '__init__.py'):
        if module and candidate.is_file():
            return candidate
    return None


def vendored(modules: list[str]) -> dict[str, bytes]:
    """{``_realnet/<path>``: the module file's bytes} for ``modules``, and the copy's own __init__."""
    files = {f'{VENDORED}/__init__.py': _VENDORED_INIT.encode()}
    files.update({f'{VENDORED}/{_module_file(m).relative_to(ROOT).as_posix()}': _module_file(m).read_bytes()
                  for m in modules})
    return files


def website_requirements(texts: list[str], extras: tuple[str, ...] = ()) -> list[str]:
    """This package's requirement lines for the distributions ``texts`` import that the website's
    environment lacks (optional ones only when their extra is in ``extras``)."""
    ours, distributions = _our_requirements(extras), importlib.metadata.packages_distributions()
    needed = {_normalized(dist) for name in _third_party_imports(texts) for dist in distributions.get(name, [])}
    return sorted(str(ours[dist]) for dist in needed - _website_distributions() if dist in ours)


def _third_party_imports(texts: list[str]) -> set[str]:
    names = set()
    for node in (node for text in texts for node in ast.walk(ast.parse(text))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split('.')[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split('.')[0])
    return names - set(sys.stdlib_module_names) - {PACKAGE}


def _our_requirements(extras: tuple[str, ...]) -> dict[str, Requirement]:
    """This package's requirements (base, and those of ``extras``) by normalized name, markers dropped."""
    found = {}
    for line in importlib.metadata.requires(DISTRIBUTION) or []:
        requirement = Requirement(line)
        if requirement.marker is None or any(requirement.marker.evaluate({'extra': e}) for e in extras):
            requirement.marker = None
            found[_normalized(requirement.name)] = requirement
    return found


@functools.cache
def _website_distributions() -> frozenset[str]:
    """brainscore-vision and everything it requires, as installed here."""
    seen, todo = set(), [WEBSITE]
    while todo:
        name = _normalized(todo.pop())
        if name in seen:
            continue
        seen.add(name)
        try:
            lines = importlib.metadata.requires(name) or []
        except importlib.metadata.PackageNotFoundError:
            continue
        requirements = map(Requirement, lines)
        todo += [r.name for r in requirements if r.marker is None or r.marker.evaluate({'extra': ''})]
    return frozenset(seen)


def _normalized(name: str) -> str:
    return re.sub(r'[-_.]+', '-', name).lower()
