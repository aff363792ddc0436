"""What `pip install .` puts on a user's path: the package, its mapped sub-packages, the command."""
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

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


def test_installed_wheel_has_no_top_level_training(wheel, tmp_path):
    target = tmp_path / 'site'
    subprocess.run([sys.executable, '-m', 'pip', 'install', '--no-deps', '-q', '--target', str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    for module in ('training', 'benchmarks'):
        result = run_python(f'import {module}', cwd=tmp_path, pythonpath=target)
        assert result.returncode != 0 and 'ModuleNotFoundError' in result.stderr
    result = run_python('import realnet_brainscore.training, realnet_brainscore.benchmarks, realnet_brainscore; '
                        'print(realnet_brainscore.__file__)', cwd=tmp_path, pythonpath=target)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(str(target))


def test_this_environment_imports_the_same_way(tmp_path):
    """The tests' own install (editable or not) exposes only realnet_brainscore."""
    assert run_python('import training', cwd=tmp_path).returncode != 0
    assert run_python('import realnet_brainscore.training', cwd=tmp_path).returncode == 0
