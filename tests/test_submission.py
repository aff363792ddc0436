"""Leaderboard zips and Brain-Score's own folder-scan discovery, in a copy of brainscore_vision."""
import functools
import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import pytest

from realnet_brainscore import cli
from realnet_brainscore.submission import brainscore_vision_dir, check

IGNORED = shutil.ignore_patterns('__pycache__')


@pytest.fixture(scope='module')
def brainscore_copy(tmp_path_factory):
    """A private copy of the installed brainscore_vision package, first on PYTHONPATH in subprocesses."""
    site = tmp_path_factory.mktemp('site')
    shutil.copytree(brainscore_vision_dir(), site / 'brainscore_vision', ignore=IGNORED)
    return site


def run_python(code, site, env=None, timeout=600):
    environment = {**os.environ, 'PYTHONPATH': str(site), 'BS_INSTALL_DEPENDENCIES': 'no', **(env or {})}
    return subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, env=environment,
                          cwd=site, timeout=timeout)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / 'served'
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield root, f'http://127.0.0.1:{httpd.server_address[1]}'
    httpd.shutdown()
    httpd.server_close()


def test_exported_zips_load_through_brainscores_own_discovery(brainscore_copy, insilico, aligned, server, tmp_path,
                                                              capsys):
    release, _, _ = insilico
    checkpoint = Path(aligned[1]['best_checkpoint'])
    served, base_url = server
    shutil.copy(checkpoint, served / 'realnet-s01-mine.pt')
    model_zip, benchmark_zip = tmp_path / 'model.zip', tmp_path / 'benchmarks.zip'
    assert cli.main(['submission', '--model', 'realnet-s01', '--weights', str(checkpoint), '--weights-url',
                     f'{base_url}/realnet-s01-mine.pt', '--out', str(model_zip)]) == 0
    assert cli.main(['submission', '--benchmarks', '--out', str(benchmark_zip)]) == 0
    assert check(model_zip) == [] and check(benchmark_zip) == []
    names = zipfile.ZipFile(model_zip).namelist()
    assert sorted(names) == [f'models/realnet_s01/{n}' for n in ('__init__.py', 'model.py', 'requirements.txt', 'test.py')]
    assert model_zip.stat().st_size < 20_000  # the weights are referenced, not packed
    assert 'realnet-brainscore' in zipfile.ZipFile(model_zip).read('models/realnet_s01/requirements.txt').decode()
    for archive in (model_zip, benchmark_zip):
        zipfile.ZipFile(archive).extractall(brainscore_copy / 'brainscore_vision')

    home = tmp_path / 'home'
    digest = hashlib.sha256(checkpoint.read_bytes()).hexdigest()[:8]
    loaded = run_python(
        'import brainscore_vision as b; m = b.load_model("realnet_s01"); print(m.identifier); '
        'print(b.load_benchmark("Gifford2022.IT-temporal_rsa").identifier); print(b.__file__)',
        brainscore_copy, env={'REALNET_HOME': str(home)})
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    identifier, benchmark, location = loaded.stdout.split()[-3:]
    assert identifier == f'realnet-s01+{digest}' and benchmark == 'Gifford2022.IT-temporal_rsa'
    assert location.startswith(str(brainscore_copy))

    tested = subprocess.run([sys.executable, '-m', 'pytest', '-q', '-p', 'no:cacheprovider',
                             'brainscore_vision/models/realnet_s01/test.py'], cwd=brainscore_copy, capture_output=True,
                            text=True, env={**os.environ, 'PYTHONPATH': str(brainscore_copy), 'REALNET_HOME': str(home),
                                            'BS_INSTALL_DEPENDENCIES': 'no'}, timeout=600)
    assert tested.returncode == 0 and '3 passed' in tested.stdout, tested.stdout[-3000:] + tested.stderr[-2000:]

    scored = subprocess.run([sys.executable, '-m', 'brainscore_vision', 'score', '--model_identifier=realnet_s01',
                             '--benchmark_identifier=Gifford2022.IT-temporal_rsa'], cwd=brainscore_copy,
                            capture_output=True, text=True, timeout=600,
                            env={**os.environ, 'PYTHONPATH': str(brainscore_copy), 'REALNET_HOME': str(home),
                                 'REALNET_THINGS_EEG2': str(release), 'BS_INSTALL_DEPENDENCIES': 'no'})
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert 'Gifford2022.IT-temporal_rsa' in scored.stdout and 'realnet_s01' in scored.stdout


def _zip(path, files):
    with zipfile.ZipFile(path, 'w') as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return path


GOOD_INIT = "from brainscore_vision import model_registry\nmodel_registry['my_model'] = lambda: None\n"


@pytest.mark.parametrize('files, message', [
    ({'models/my_model/__init__.py': GOOD_INIT.replace('my_model', 'my-model')}, "model identifier 'my-model' contains a hyphen"),
    ({'models/my_model/__init__.py': GOOD_INIT, 'models/my_model/metadata.yaml': 'x'}, 'metadata files are generated'),
    ({'models/my_model/__init__.py': GOOD_INIT, 'models/my_model/my weights.txt': 'x'}, 'file name with a space'),
    ({'models/my_model/__init__.py': GOOD_INIT.replace('my_model', 'ReAlnet01')}, "'ReAlnet01' is already registered"),
    ({'models/cornet_s/__init__.py': GOOD_INIT}, 'plugin folder models/cornet_s already exists'),
    ({'models/my_model/__init__.py': GOOD_INIT + "model_registry['my_other'] = lambda: None\n"},
     '2 model identifiers'),
])
def test_check_names_each_broken_rule(tmp_path, files, message, capsys):
    archive = _zip(tmp_path / 'submission.zip', files)
    assert cli.main(['submission', 'check', str(archive)]) == 2
    errors = capsys.readouterr().err.strip().splitlines()
    assert len(errors) == 1 and message in errors[0], errors


def test_check_refuses_a_zip_over_50_mb(tmp_path):
    archive = tmp_path / 'big.zip'
    with zipfile.ZipFile(archive, 'w', zipfile.ZIP_STORED) as out:
        out.writestr('models/my_model/__init__.py', GOOD_INIT)
        out.writestr('models/my_model/blob.bin', os.urandom(51 * 2 ** 20))
    assert any('the website takes at most 50 MB' in p for p in check(archive))
    assert check(_zip(tmp_path / 'fine.zip', {'models/my_model/__init__.py': GOOD_INIT})) == []


def _snapshot(root):
    return {str(p.relative_to(root)): hashlib.sha1(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob('*')) if p.is_file()}


def test_plugins_install_then_uninstall_leaves_the_tree_as_it_was(tmp_path, capsys):
    target = tmp_path / 'brainscore_vision'
    shutil.copytree(brainscore_vision_dir(), target, ignore=IGNORED)
    before = _snapshot(target)
    assert cli.main(['plugins', 'install', '--brainscore-vision', str(target)]) == 0
    for folder in ('models/realnet_brainscore/__init__.py', 'benchmarks/gifford2022_temporal_rsa/benchmark.py',
                   'benchmarks/shen2019_rsa/__init__.py'):
        assert (target / folder).is_file()
    assert "model_registry['realnet_s10']" in (target / 'models/realnet_brainscore/__init__.py').read_text()
    found = run_python('from brainscore_core.plugin_management.import_plugin import ImportPlugin as I; '
                       'print(I("brainscore_vision", "models", "realnet_s03").plugin_dirname, '
                       'I("brainscore_vision", "benchmarks", "Shen2019.FFA-rsa").plugin_dirname)', tmp_path)
    assert found.stdout.split() == ['realnet_brainscore', 'shen2019_rsa'], found.stderr[-2000:]
    assert cli.main(['plugins', 'install', '--brainscore-vision', str(target)]) == 2  # already there
    capsys.readouterr()
    assert cli.main(['plugins', 'uninstall']) == 0
    assert _snapshot(target) == before
    assert cli.main(['plugins', 'uninstall']) == 2
    assert 'nothing to uninstall' in capsys.readouterr().err
