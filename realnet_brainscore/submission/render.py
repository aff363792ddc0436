"""Brain-Score plugin folders of our models and benchmarks, made from the templates (model) and the
repository's benchmarks/ folders, as files in memory; the website's are made self-contained."""
import ast
from pathlib import Path

from .. import __version__, plugin
from ..backbones import CORNET_SPEC, BackboneSpec
from ..data import ENVIRONMENT, HOSTED
from ..errors import RealnetError
from ..identifiers import confined, is_timm, leaderboard_id
from ..weights import WeightSource
from .vendoring import self_contained

# The model plugin's files as shipped, valid Python that Brain-Score would run once filled in. The
# hyphen keeps the folder out of reach of import statements: its __init__.py registers models.
TEMPLATES = Path(__file__).parent / 'templates' / 'model-plugin'
_PLACEHOLDER = "'IDENTIFIER'"  # the template's registration line names this for each identifier
# The data set each benchmark plugin reads: the website runs only those whose data Brain-Score hosts (data.HOSTED).
PLUGIN_DATA = {'gifford2022_temporal_rsa': 'things_eeg2', 'shen2019_rsa': 'shen2019'}
DATASET_NAMES = {'things_eeg2': 'THINGS-EEG2', 'shen2019': 'Shen 2019 fMRI'}


def model_plugin(identifiers: list[str], weights: WeightSource | None = None,
                 spec: BackboneSpec = CORNET_SPEC) -> dict[str, str]:
    """Files of a model plugin folder registering ``identifiers`` (package ids) of the backbone
    ``spec``, made from the templates. With ``weights`` (a WeightSource of the user's hosted file),
    the one model loads that file instead."""
    # each becomes a registry key and a repr() inside the plugin's Python: confined where it is made
    package_ids = {confined(leaderboard_id(confined(i)), 'plugin name'): i for i in identifiers}
    layers = spec.brainscore_layers
    return {
        '__init__.py': _registering(list(package_ids)),
        'model.py': _filled('model.py', PACKAGE_IDS=package_ids, WEIGHTS=weights, LAYERS=layers),
        'test.py': _filled('test.py', IDENTIFIERS=list(package_ids), LAYERS=layers, REGIONS=dict(spec.regions)),
        'requirements.txt': f'realnet-brainscore{"[timm]" if is_timm(spec.name) else ""}=={__version__}\n',
    }


def website_model_plugin(identifiers: list[str], weights: WeightSource | None = None,
                         spec: BackboneSpec = CORNET_SPEC) -> dict[str, bytes]:
    """``model_plugin`` made self-contained for the website (the package modules copied in)."""
    files = {name: text.encode() for name, text in model_plugin(identifiers, weights, spec).items()}
    return self_contained(files, extras=('timm',) if is_timm(spec.name) else ())


def _registering(identifiers: list[str]) -> str:
    """The template __init__.py with its registration line written once per identifier."""
    text = (TEMPLATES / '__init__.py').read_text(encoding='utf-8')
    line = next(line for line in text.splitlines(keepends=True) if _PLACEHOLDER in line)
    return text.replace(line, ''.join(line.replace(_PLACEHOLDER, repr(i)) for i in identifiers))


def _filled(template: str, **values) -> str:
    """The text of ``template`` with the right-hand side of each top-level ``NAME = …`` named in
    ``values`` replaced by the value's repr(), Python that the template's own imports evaluate."""
    text = (TEMPLATES / template).read_text(encoding='utf-8')
    lines = text.encode().splitlines(keepends=True)  # ast's column offsets count UTF-8 bytes
    assignments = {_assigned_name(node): node.value for node in ast.parse(text).body
                   if isinstance(node, (ast.Assign, ast.AnnAssign)) and _assigned_name(node) in values}
    if set(assignments) != set(values):
        raise ValueError(f'template {template} does not assign {sorted(set(values) - set(assignments))}')
    for name, value in sorted(assignments.items(), key=lambda item: -item[1].lineno):  # bottom up: offsets hold
        first, last = lines[value.lineno - 1], lines[value.end_lineno - 1]
        lines[value.lineno - 1:value.end_lineno] = [first[:value.col_offset] + repr(values[name]).encode()
                                                    + last[value.end_col_offset:]]
    return b''.join(lines).decode()


def _assigned_name(node: ast.Assign | ast.AnnAssign) -> str | None:
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return targets[0].id if len(targets) == 1 and isinstance(targets[0], ast.Name) else None


def benchmark_plugins() -> dict[str, dict[str, bytes]]:
    """Our benchmark plugin folders as they are: {folder: {file name: bytes}}."""
    return {folder.name: {p.name: p.read_bytes() for p in sorted(folder.glob('*.py')) + sorted(folder.glob('*.txt'))}
            for folder in sorted(plugin.plugins_dir().iterdir()) if (folder / '__init__.py').is_file()}


def website_benchmark_plugins(names: list[str] | None = None) -> dict[str, dict[str, bytes]]:
    """The benchmark plugin folders ``names`` (default: all the website can run) made self-contained;
    one the website cannot run is refused in one line saying why."""
    plugins = benchmark_plugins()
    unknown = sorted(set(names or ()) - set(plugins))
    if unknown:
        raise RealnetError(f'no benchmark plugin {unknown[0]}; ours: {", ".join(plugins)}')
    refused = [name for name in names or () if website_refusal(name)]
    if refused:
        raise RealnetError(f'benchmarks/{refused[0]} is not exported: {website_refusal(refused[0])}')
    chosen = names or [name for name in plugins if website_refusal(name) is None]
    return {name: self_contained(plugins[name]) for name in chosen}


def website_refusal(plugin_folder: str) -> str | None:
    """Why the website cannot run this benchmark plugin (its data are not hosted), or None."""
    dataset = PLUGIN_DATA[plugin_folder]
    if HOSTED[dataset] is not None:
        return None
    return (f'it reads ${ENVIRONMENT[dataset]}, and the website has no '
            f'{DATASET_NAMES[dataset]} (Brain-Score does not host it: its ImageNet test images are not '
            'redistributable); score it locally with `brainscore score`')
