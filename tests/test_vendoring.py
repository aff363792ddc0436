"""Self-contained plugins: the package modules a plugin runs on are copied in unchanged, its own
imports read the copy, and its requirements name only what the website's brainscore_vision lacks."""
import ast
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import realnet_brainscore
from realnet_brainscore import RealnetError, cli, submission
from realnet_brainscore.backbones import BackboneSpec
from realnet_brainscore.submission.vendoring import VENDORED, package_closure, self_contained

PACKAGE_DIR = Path(realnet_brainscore.__file__).parent


def imports_of(text: str) -> set[str]:
    """Every module an import statement of ``text`` names, relative ones with their dots."""
    found = set()
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            found.add('.' * node.level + (node.module or ''))
    return found


def test_the_copy_is_the_package_and_the_plugin_imports_only_the_copy():
    originals = {name: content.decode() for name, content in submission.benchmark_plugins()[
        'gifford2022_temporal_rsa'].items()}
    plugin = submission.website_benchmark_plugins()['gifford2022_temporal_rsa']
    copied = {name[len(VENDORED) + 1:]: content for name, content in plugin.items() if name.startswith(f'{VENDORED}/')}
    assert {'rsa.py', 'decoding.py', 'records.py', 'data/things_eeg2.py', 'errors.py'} <= set(copied)
    for name, content in copied.items():
        if name != '__init__.py':
            assert content == (PACKAGE_DIR / name).read_bytes(), name  # byte for byte the package's
    assert f"__version__ = '{realnet_brainscore.__version__}'" in copied['__init__.py'].decode()
    for name in ('__init__.py', 'benchmark.py', 'test.py'):
        text = plugin[name].decode()
        assert not any(module.startswith('realnet_brainscore') for module in imports_of(text)), name
        assert text.replace(f'from .{VENDORED}', 'from realnet_brainscore') == originals[name]


def test_every_copied_module_imports_where_this_package_cannot_be_imported(tmp_path):
    plugin = submission.website_benchmark_plugins()['gifford2022_temporal_rsa']
    for name, content in plugin.items():
        (tmp_path / 'plugin' / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / 'plugin' / name).write_bytes(content)
    modules = sorted(name[:-3].replace('/', '.').removesuffix('.__init__') for name in plugin if name.endswith('.py'))
    code = ('import importlib\nfor m in %r: importlib.import_module("plugin." + m)\n'
            'import realnet_brainscore' % modules)
    paths = os.pathsep.join([str(tmp_path), sysconfig.get_paths()['purelib']])  # plain paths: no .pth files run
    done = subprocess.run([sys.executable, '-S', '-c', code], cwd=tmp_path, capture_output=True, text=True,
                          env={**os.environ, 'PYTHONPATH': paths, 'BS_INSTALL_DEPENDENCIES': 'no'}, timeout=300)
    assert done.stderr.strip().splitlines()[-1] == "ModuleNotFoundError: No module named 'realnet_brainscore'"


def test_requirements_name_what_brainscore_vision_lacks_pinned_as_this_package_pins_it():
    benchmark = submission.website_benchmark_plugins()['gifford2022_temporal_rsa']
    # rsa.py imports rsatoolbox and decoding.py numba, which brainscore-vision does not bring;
    # torch, numpy, scipy, xarray and h5py it does
    assert benchmark['requirements.txt'].decode().splitlines() == ['numba>=0.59', 'rsatoolbox==0.2.0']
    cornet = submission.website_model_plugin(['realnet-s01'])
    assert 'requirements.txt' not in cornet and 'models.py' in {n.split('/')[-1] for n in cornet}
    timm = submission.website_model_plugin(['timm-vit-eeg-s01'], spec=BackboneSpec(
        'timm:vit_tiny_patch16_224', ('blocks.0', 'blocks.11'), {'V1': 'blocks.0', 'V2': 'blocks.0', 'V4': 'blocks.11',
                                                                 'IT': 'blocks.11'}, 'head'))
    assert timm['requirements.txt'] == b'timm>=1.0\n'


def test_the_closure_follows_imports_inside_functions_and_leaves_the_root_out():
    closure = package_closure(['records'])
    assert 'plugin' in closure  # imported inside records.our_kind
    assert '' not in closure and 'cli' not in closure


@pytest.mark.parametrize('line, message', [
    ('from realnet_brainscore import load_model', 'plugin files import modules, not realnet_brainscore.load_model'),
    ('import realnet_brainscore.models', 'must import this package as `from realnet_brainscore.MODULE import NAME`'),
    ('from realnet_brainscore.nothing import x', 'realnet_brainscore.nothing: no such module'),
])
def test_a_plugin_file_the_copy_cannot_serve_is_refused(line, message):
    with pytest.raises(RealnetError, match=message.replace('(', r'\(').replace('`', '.')):
        self_contained({'model.py': f'{line}\n'.encode()})


def test_a_benchmark_the_website_cannot_run_is_refused_in_one_line_and_nothing_written(tmp_path, capsys):
    out = tmp_path / 'shen.zip'
    assert cli.main(['submission', 'export', '--benchmarks', 'shen2019_rsa', '--out', str(out)]) == 2
    error = capsys.readouterr().err.strip()
    assert 'benchmarks/shen2019_rsa is not exported' in error and '$REALNET_SHEN2019' in error and '\n' not in error
    assert not out.exists()
