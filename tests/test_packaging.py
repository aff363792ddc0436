"""What `pip install .` puts on a user's path: the package, its mapped sub-packages, the command."""
import email
import pkgutil
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

import pytest

ROOT = Path(__file__).resolve().parents[1]


def run_python(code, cwd, pythonpath=None):
    env = {'PATH': '/usr/bin:/bin', **({'PYTHONPATH': str(pythonpath)} if pythonpath else {})}
    return subprocess.run([sys.executable, '-c', code], cwd=cwd, env=env, capture_output=True, text=True)


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp('wheel')
    source = out / 'source'  # a copy, so that the build leaves nothing in the checkout
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        '.git', '.venv', 'build', 'dist', '*.egg-info', '__pycache__', '.pytest_cache'))
    subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q',
                    '-w', str(out), str(source)], check=True, capture_output=True, timeout=300)
    (path,) = out.glob('realnet_brainscore-*.whl')
    return path


def test_wheel_maps_training_and_benchmarks_into_the_package(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert 'realnet_brainscore/training/__init__.py' in names
    assert 'realnet_brainscore/benchmarks/__init__.py' in names
    assert not [name for name in names if name.split('/')[0] in ('training', 'benchmarks', 'tests')]
    entry_points = next(name for name in names if name.endswith('entry_points.txt'))
    assert 'brainscore = realnet_brainscore.cli:main' in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_wheel_metadata_is_the_readme_and_the_mit_license(wheel):
    """What PyPI shows and `twine check` reads: README.md as markdown, the licence and its file."""
    archive = zipfile.ZipFile(wheel)
    info = next(name for name in archive.namelist() if name.endswith('.dist-info/METADATA'))
    metadata = email.message_from_string(archive.read(info).decode())
    assert metadata['License-Expression'] == 'MIT' and metadata['License-File'] == 'LICENSE'
    assert metadata['Description-Content-Type'] == 'text/markdown'
    assert 'Programming Language :: Python :: 3.11' in metadata.get_all('Classifier')
    assert metadata.get_payload().strip() == (ROOT / 'README.md').read_text().strip()
    assert archive.read(info.replace('METADATA', 'licenses/LICENSE')) == (ROOT / 'LICENSE').read_bytes()


@pytest.fixture(scope='module')
def installed(wheel, tmp_path_factory):
    """The wheel installed into a folder of its own (a site-packages for PYTHONPATH)."""
    target = tmp_path_factory.mktemp('site')
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '-q', '--target', str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    return target


def test_installed_wheel_has_no_top_level_training(installed, tmp_path):
    target = installed
    for module in ('training', 'benchmarks'):
        result = run_python(f'import {module}', cwd=tmp_path, pythonpath=target)
        assert result.returncode != 0 and 'ModuleNotFoundError' in result.stderr
    result = run_python('import realnet_brainscore.training, realnet_brainscore.benchmarks, realnet_brainscore; '
                        'print(realnet_brainscore.__file__)', cwd=tmp_path, pythonpath=target)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(target))


def test_wheel_ships_the_model_plugin_templates_as_data_not_a_package(wheel, installed, tmp_path):
    templates = [PurePosixPath(n) for n in zipfile.ZipFile(wheel).namelist() if '/templates/' in n]
    (folder,) = {path.parent for path in templates}
    assert sorted(path.name for path in templates) == ['__init__.py', 'model.py', 'test.py']
    # templates/ is no package (pkgutil lists only folders with an __init__.py) and the plugin folder
    # has no importable name: its __init__.py, which registers models, is never imported
    package = installed / 'realnet_brainscore/submission'
    assert 'templates' not in {module.name for module in pkgutil.iter_modules([str(package)])}
    assert folder.parent == PurePosixPath('realnet_brainscore/submission/templates') and not folder.name.isidentifier()
    rendered = run_python('from realnet_brainscore.submission import TEMPLATES, model_plugin; print(TEMPLATES); '
                          "print(model_plugin(['realnet-s01'])['__init__.py'])", cwd=tmp_path, pythonpath=installed)
    assert rendered.returncode == 0, rendered.stderr[-3000:]
    assert rendered.stdout.splitlines()[0] == str(installed / folder)
    assert "model_registry['realnet_s01'] = lambda: get_model('realnet_s01')" in rendered.stdout.splitlines()


def test_this_environment_imports_the_same_way(tmp_path):
    """The tests' own install (editable or not) exposes only realnet_brainscore."""
    assert run_python('import training', cwd=tmp_path).returncode != 0
    assert run_python('import realnet_brainscore.training', cwd=tmp_path).returncode == 0
