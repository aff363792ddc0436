"""Brain-Score plugin folders for our models: installed into brainscore_vision, or zipped for the
leaderboard website, and a check of a zip against the website's rules (shared FORMATS.md)."""
import io
import json
import re
import shutil
import zipfile
from pathlib import Path

from . import __version__, models, plugin
from . import weights as weight_table
from .errors import RealnetError
from .files import atomic_path, file_digest

MAX_ZIP_BYTES = 50 * 1024 * 1024
INSTALLED_FOLDER = 'realnet_brainscore'  # brainscore_vision/models/<this>
_REGISTRY_LINE = re.compile(r"""(model|benchmark)_registry\[['"]([^'"]+)['"]\]""")
BIBTEX = '''@article{lu2026realnet,
  title={Achieving more human brain-like vision via human {EEG} representational alignment},
  author={Lu, Zitong and Wang, Yile and Golomb, Julie D.},
  journal={Communications Biology}, year={2026}}'''


def leaderboard_id(identifier: str) -> str:
    """Leaderboard identifiers cannot hold hyphens: realnet-s01 -> realnet_s01."""
    return identifier.replace('-', '_')


def model_plugin(identifiers: list[str], weights: "weight_table.WeightSource | None" = None) -> dict[str, str]:
    """Files of a model plugin folder registering ``identifiers`` (package ids). With ``weights``
    (a WeightSource of the user's hosted file), the one model loads that file instead."""
    registrations = ''.join(f"model_registry['{leaderboard_id(i)}'] = lambda: get_model('{leaderboard_id(i)}')\n"
                            for i in identifiers)
    source = '' if weights is None else (
        f'WEIGHTS = WeightSource({weights.identifier!r}, {weights.url!r}, {weights.algorithm!r}, '
        f'{weights.digest!r}, {weights.description!r})\n')
    load = ('load_model(PACKAGE_IDS[identifier], weights=fetch(WEIGHTS))' if weights is not None
            else 'load_model(PACKAGE_IDS[identifier])')
    package_ids = {leaderboard_id(i): i for i in identifiers}
    return {
        '__init__.py': f'from brainscore_vision import model_registry\n\nfrom .model import get_model\n\n{registrations}',
        'model.py': f'''"""ReAlnet (CORnet-S aligned with human EEG) from the realnet-brainscore package."""
from realnet_brainscore import load_model
from realnet_brainscore.models import LAYERS
from realnet_brainscore.weights import WeightSource, fetch

PACKAGE_IDS = {package_ids!r}
{source}BIBTEX = """{BIBTEX}"""


def get_model(identifier):
    return {load}


def get_layers(identifier):
    return list(LAYERS)


def get_bibtex(identifier):
    return BIBTEX
''',
        'test.py': f'''"""The registered models load as Brain-Score models with the committed layers."""
import pytest

IDENTIFIERS = {list(package_ids)!r}


@pytest.mark.parametrize('identifier', IDENTIFIERS)
def test_registered(identifier):
    from brainscore_vision import model_registry
    from . import model  # noqa: F401
    assert identifier in model_registry


@pytest.mark.parametrize('identifier', IDENTIFIERS)
def test_layers_and_regions(identifier):
    from .model import get_layers
    assert get_layers(identifier) == ['V1', 'V2', 'V4', 'IT', 'decoder.avgpool']


def test_loads_with_its_layer_commitment():
    from brainscore_vision import load_model
    model = load_model(IDENTIFIERS[0])
    assert model.identifier.startswith(IDENTIFIERS[0].replace('_', '-'))
    assert model.layer_model.region_layer_map['IT'] == 'IT'
''',
        'requirements.txt': f'realnet-brainscore=={__version__}\n',
    }


def benchmark_plugins() -> dict[str, dict[str, bytes]]:
    """Our benchmark plugin folders as they are: {folder: {file name: bytes}}."""
    return {folder.name: {p.name: p.read_bytes() for p in sorted(folder.glob('*.py')) + sorted(folder.glob('*.txt'))}
            for folder in sorted(plugin.plugins_dir().iterdir()) if (folder / '__init__.py').is_file()}


def export_model(identifier: str, out, weights=None, weights_url=None) -> Path:
    """A zip (or folder) ``models/<id>/…`` for one model; a user's file is referenced by URL + hash."""
    weight_table.source(identifier)
    spec = None
    if weights is not None:
        if not weights_url:
            raise RealnetError('--weights needs --weights-url: the website fetches weights at load time, '
                               'they never go inside the zip')
        models.load_network(identifier, weights)  # refuse a file that does not load
        spec = weight_table.WeightSource(identifier, weights_url, 'sha256', file_digest(weights, 'sha256'),
                                         f'{identifier} from {Path(weights).name}')
    files = {f'models/{leaderboard_id(identifier)}/{name}': text.encode()
             for name, text in model_plugin([identifier], spec).items()}
    return _write(files, out)


def export_benchmarks(out) -> Path:
    files = {f'benchmarks/{folder}/{name}': content for folder, entries in benchmark_plugins().items()
             for name, content in entries.items()}
    return _write(files, out)


def _write(files: dict[str, bytes], out) -> Path:
    out = Path(out)
    if out.suffix == '.zip':
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, 'w', zipfile.ZIP_DEFLATED) as archive:
            for name, content in files.items():
                archive.writestr(name, content)
        with atomic_path(out) as partial:
            partial.write_bytes(buffer.getvalue())
        return out
    if out.exists() and any(out.iterdir()):
        raise RealnetError(f'{out} exists and is not empty; choose a new folder or a .zip name')
    for name, content in files.items():
        (out / name).parent.mkdir(parents=True, exist_ok=True)
        (out / name).write_bytes(content)
    return out


def check(zip_path, brainscore_root=None) -> list[str]:
    """Every website rule the zip breaks, one sentence each (empty: it passes)."""
    zip_path = Path(zip_path)
    if not zipfile.is_zipfile(zip_path):
        raise RealnetError(f'{zip_path}: not a zip file')
    problems = []
    if zip_path.stat().st_size > MAX_ZIP_BYTES:
        problems.append(f'the zip is {zip_path.stat().st_size / 2**20:.1f} MB; the website takes at most 50 MB')
    with zipfile.ZipFile(zip_path) as archive:
        names = [n for n in archive.namelist() if not n.endswith('/')]
        registrations = [(kind, identifier, name.split('/')[1]) for name in names if name.endswith('__init__.py')
                         for kind, identifier in _REGISTRY_LINE.findall(archive.read(name).decode('utf-8', 'replace'))]
    problems += [f'file name with a space: {n!r}' for n in names if ' ' in n]
    problems += [f'{n}: metadata files are generated by Brain-Score; leave them out' for n in names
                 if Path(n).name in ('metadata.yaml', 'metadata.yml')]
    folders = {tuple(n.split('/')[:2]) for n in names if n.count('/') >= 2}
    if not folders or any(kind not in ('models', 'benchmarks') for kind, _ in folders):
        problems.append('the zip must hold models/<plugin>/… or benchmarks/<plugin>/… folders')
    problems += [f"model identifier '{i}' contains a hyphen; the leaderboard takes none (e.g. {i.replace('-', '_')})"
                 for kind, i, _ in registrations if kind == 'model' and '-' in i]
    model_ids = sorted({i for kind, i, _ in registrations if kind == 'model'})
    if len(model_ids) > 1:
        problems.append(f'{len(model_ids)} model identifiers ({", ".join(model_ids)}); the website takes one per upload')
    taken = _registered(brainscore_root)
    problems += [f"{kind} identifier '{i}' is already registered in Brain-Score" for kind, i, _ in registrations
                 if i in taken[kind]]
    problems += [f"plugin folder {kind}/{folder} already exists in Brain-Score" for kind, folder in folders
                 if folder in taken['folders'].get(kind, ())]
    return problems


def _registered(root=None) -> dict:
    root = Path(root) if root else brainscore_vision_dir()
    taken = {'model': set(), 'benchmark': set(), 'folders': {}}
    for kind in ('models', 'benchmarks'):
        taken['folders'][kind] = {p.name for p in (root / kind).iterdir() if p.is_dir()}
        for init in (root / kind).glob('*/__init__.py'):
            for registry, identifier in _REGISTRY_LINE.findall(init.read_text(encoding='utf-8', errors='replace')):
                taken[registry].add(identifier)
    return taken


def brainscore_vision_dir() -> Path:
    import brainscore_vision
    return Path(brainscore_vision.__file__).parent


def _manifest() -> Path:
    return weight_table.realnet_home() / 'installed-plugins.json'


def install(root=None, identifiers=None) -> list[Path]:
    """Place our model plugin and benchmark plugins into the brainscore_vision tree (default: the
    installed one), where Brain-Score's folder scan finds them."""
    root = Path(root) if root else brainscore_vision_dir()
    identifiers = identifiers or [i for i in models.list_models() if i.startswith('realnet-')]
    folders = {root / 'models' / INSTALLED_FOLDER: {n: t.encode() for n, t in model_plugin(identifiers).items()}}
    folders.update({root / 'benchmarks' / name: files for name, files in benchmark_plugins().items()})
    present = [str(f) for f in folders if f.exists()]
    if present:
        raise RealnetError(f'{present[0]} already exists; run `brainscore plugins uninstall` first')
    placed = []
    try:
        for folder, files in folders.items():
            folder.mkdir()
            placed.append(folder)
            for name, content in files.items():
                (folder / name).write_bytes(content)
    except OSError as error:
        for folder in placed:
            shutil.rmtree(folder, ignore_errors=True)
        raise RealnetError(f'could not write into {root} ({error})') from None
    with atomic_path(_manifest()) as partial:
        partial.write_text(json.dumps({'brainscore_vision': str(root), 'folders': [str(f) for f in placed]}, indent=2))
    return placed


def uninstall() -> list[Path]:
    """Remove exactly the folders install() placed."""
    if not _manifest().is_file():
        raise RealnetError(f'nothing to uninstall: no record of an installation ({_manifest()})')
    record = json.loads(_manifest().read_text())
    removed = []
    for folder in map(Path, record['folders']):
        if folder.is_dir():
            shutil.rmtree(folder)
            removed.append(folder)
    _manifest().unlink()
    return removed
