"""Leaderboard zips and Brain-Score's own folder-scan discovery, in a copy of brainscore_vision."""
import ast
import functools
import hashlib
import http.server
import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import threading
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from factories import SIZE
from realnet_brainscore import cli, load_benchmark
from realnet_brainscore.submission import TEMPLATES, brainscore_vision_dir, check, installation, model_plugin, rules
from realnet_brainscore.synthetic import Design, write_things_eeg2
from realnet_brainscore.weights import WeightSource

IGNORED = shutil.ignore_patterns('__pycache__')


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


def website_library(root: Path) -> Path:
    """``root/brainscore_vision``: the installed package's entries linked, with models/, benchmarks/
    and model_helpers/ real folders to add to (plugins; the three images its wheel lacks)."""
    copy = root / 'brainscore_vision'
    copy.mkdir(parents=True)
    for entry in brainscore_vision_dir().iterdir():
        if entry.name in ('models', 'benchmarks', 'model_helpers'):
            (copy / entry.name).mkdir()
            for inner in entry.iterdir():
                (copy / entry.name / inner.name).symlink_to(inner)
        elif entry.name != '__pycache__':
            (copy / entry.name).symlink_to(entry)
    resources = copy / 'model_helpers' / 'generic_plugin_tests_resources'
    resources.mkdir()
    pixels = np.random.default_rng(0).integers(0, 256, (3, 120, 160, 3), dtype=np.uint8)
    for image, name in zip(pixels, ('rgb1.jpg', 'rgb2.jpg', 'rgb3.png')):
        Image.fromarray(image).save(resources / name)
    return copy


def run_website(args: list[str], root: Path, env: dict) -> subprocess.CompletedProcess:
    """``python -S ARGS`` from the library root, with the root and this venv's site-packages as plain
    paths: the .pth files there (this package's editable install among them) do not run, so this
    package cannot be imported, as on the website."""
    paths = os.pathsep.join([str(root), sysconfig.get_paths()['purelib']])
    return subprocess.run([sys.executable, '-S', *args], cwd=root, capture_output=True, text=True, timeout=600,
                          env={**os.environ, 'PYTHONPATH': paths, 'PYTHONNOUSERSITE': '1', 'BS_INSTALL_DEPENDENCIES': 'no',
                               **env})


def test_exported_plugins_pass_brainscores_plugin_tests_where_this_package_is_not_installed(aligned, server,
                                                                                          tmp_path, monkeypatch, capsys):
    """brainscore_core's test_plugin.sh: `pytest -m "not slow"` on the generic plugin tests with
    --plugin_directory, then on the plugin's test.py, from the library root; then a score, whose
    decoding RDMs the plugin's copy of the package reads from the cache the package itself filled."""
    checkpoint = Path(aligned[1]['best_checkpoint'])
    served, base_url = server
    shutil.copy(checkpoint, served / 'realnet-s01-mine.pt')
    model_zip, benchmark_zip = tmp_path / 'model.zip', tmp_path / 'benchmarks.zip'
    assert cli.main(['submission', 'export', '--model', 'realnet-s01', '--weights', str(checkpoint), '--weights-url',
                     f'{base_url}/realnet-s01-mine.pt', '--out', str(model_zip)]) == 0
    assert cli.main(['submission', 'export', '--benchmarks', '--out', str(benchmark_zip)]) == 0
    assert 'left out benchmarks/shen2019_rsa' in capsys.readouterr().err
    assert check(model_zip, check_index=False) == [] and check(benchmark_zip, check_index=False) == []
    assert model_zip.stat().st_size < 200_000  # the weights are referenced, not packed
    library = website_library(tmp_path / 'library')
    for archive in (model_zip, benchmark_zip):
        zipfile.ZipFile(archive).extractall(library)
    # two subjects' test EEG (12 images, 20 repetitions): the score runs the decoding RDMs from scratch
    eeg = write_things_eeg2(tmp_path / 'eeg', Design(subjects=2, concepts=2, images_per_concept=1, test_images=12,
                                                     test_repetitions=20, image_size=SIZE))
    env = {'REALNET_HOME': str(tmp_path / 'home'), 'RESULTCACHING_HOME': str(tmp_path / 'cache'),
           'REALNET_THINGS_EEG2': str(eeg)}

    found = run_website(['-c', 'import brainscore_vision as b; print(b.__file__); import realnet_brainscore'],
                        library.parent, env)
    assert found.stdout.split() == [str(library / '__init__.py')]
    assert "No module named 'realnet_brainscore'" in found.stderr
    # test_plugin.sh's two pytest runs in one process (each spends most of its seconds importing)
    tests = run_website(['-m', 'pytest', '-m', 'not slow', '-v', '-p', 'no:cacheprovider',
                         'brainscore_vision/model_helpers/generic_plugin_tests.py', '--plugin_directory',
                         str(library / 'models' / 'realnet_s01'), 'brainscore_vision/models/realnet_s01/test.py',
                         'brainscore_vision/benchmarks/gifford2022_temporal_rsa/test.py'], library.parent, env)
    print('plugin tests:', tests.stdout.strip().splitlines()[-1])
    assert tests.returncode == 0 and '13 passed' in tests.stdout, tests.stdout[-3000:] + tests.stderr[-2000:]
    passed = [line.split('::')[0] for line in tests.stdout.splitlines() if ' PASSED' in line]
    assert [sum(file.endswith(name) for file in passed) for name in  # generic, the model's own, the benchmark's
            ('generic_plugin_tests.py', 'realnet_s01/test.py', 'gifford2022_temporal_rsa/test.py')] == [5, 3, 5]
    # The copy is byte for byte the package (test_vendoring): computing the RDMs with its numba kernels
    # would compile them afresh under another path (27-42 s); the same cache key is what is tested here.
    monkeypatch.setenv('REALNET_HOME', env['REALNET_HOME'])
    load_benchmark('Gifford2022.IT-temporal_rsa', things_eeg2=eeg).reference()
    kept = {file.name: file.stat().st_mtime_ns for file in (tmp_path / 'home' / 'cache' / 'eeg_rdms').iterdir()}
    scored = run_website(['-m', 'brainscore_vision', 'score', '--model_identifier=realnet_s01',
                          '--benchmark_identifier=Gifford2022.IT-temporal_rsa'], library.parent, env)
    assert scored.returncode == 0, scored.stderr[-3000:]
    assert 'Gifford2022.IT-temporal_rsa' in scored.stdout and 'realnet_s01' in scored.stdout
    assert len(kept) == 2 and kept == {file.name: file.stat().st_mtime_ns  # read, not written again
                                       for file in (tmp_path / 'home' / 'cache' / 'eeg_rdms').iterdir()}


def _assigned_values(module_text):
    """Top-level ``NAME = value`` of a module, as the parsed value expressions."""
    return {(node.targets[0] if isinstance(node, ast.Assign) else node.target).id: node.value
            for node in ast.parse(module_text).body if isinstance(node, (ast.Assign, ast.AnnAssign))}


def test_templates_are_python_and_a_rendered_model_holds_the_users_weights():
    templates = sorted(TEMPLATES.glob('*.py'))
    assert [p.name for p in templates] == ['__init__.py', 'model.py', 'test.py']
    for template in templates:
        ast.parse(template.read_text(encoding='utf-8'), filename=str(template))
    spec = WeightSource('realnet-s01', 'https://example.org/my"w".pt', 'sha256', 'ab' * 32, "realnet-s01 from it's.pt")
    files = model_plugin(['realnet-s01', 'realnet-s02'], spec)
    for name in ('__init__.py', 'model.py', 'test.py'):
        ast.parse(files[name], filename=name)
    values = _assigned_values(files['model.py'])
    assert eval(compile(ast.Expression(values['WEIGHTS']), 'model.py', 'eval'), {'WeightSource': WeightSource}) == spec
    assert ast.literal_eval(values['PACKAGE_IDS']) == {'realnet_s01': 'realnet-s01', 'realnet_s02': 'realnet-s02'}
    assert ast.literal_eval(_assigned_values(files['test.py'])['IDENTIFIERS']) == ['realnet_s01', 'realnet_s02']
    assert ast.literal_eval(_assigned_values(model_plugin(['realnet-s01'])['model.py'])['WEIGHTS']) is None
    assert [line for line in files['__init__.py'].splitlines() if line.startswith('model_registry')] == [
        f"model_registry['{i}'] = lambda: get_model('{i}')" for i in ('realnet_s01', 'realnet_s02')]


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


def test_our_installed_plugins_do_not_count_as_taken_by_export_and_check(tmp_path, monkeypatch):
    tree = _tree(tmp_path / 'bsv')
    monkeypatch.setattr(installation, 'brainscore_vision_dir', lambda: tree)
    assert cli.main(['plugins', 'install']) == 0
    model_zip, benchmarks_zip = tmp_path / 'model.zip', tmp_path / 'benchmarks.zip'
    assert cli.main(['submission', 'export', '--model', 'realnet-s01', '--out', str(model_zip)]) == 0
    assert cli.main(['submission', 'export', '--benchmarks', '--out', str(benchmarks_zip)]) == 0
    assert check(model_zip, check_index=False) == [] and check(benchmarks_zip, check_index=False) == []
    (tree / 'models/someone_else').mkdir()  # a plugin not placed by install still counts
    (tree / 'models/someone_else/__init__.py').write_text(GOOD_INIT.replace('my_model', 'realnet_s01'))
    assert check(model_zip, check_index=False) == [
        "model identifier 'realnet_s01' is already registered in Brain-Score"]


# Hostile input (issue 12): plugins install/uninstall, submission export and check.

def _tree(folder):
    """The smallest brainscore_vision tree install() writes into."""
    for kind in ('models', 'benchmarks'):
        (folder / kind).mkdir(parents=True)
    return folder


def _run(capsys, *argv):
    status = cli.main(list(argv))
    captured = capsys.readouterr()
    return status, captured.out.strip().splitlines(), captured.err.strip().splitlines()


def test_uninstall_from_another_folder_removes_the_plugins_installed_and_no_decoy(tmp_path, monkeypatch, capsys):
    real, decoy = _tree(tmp_path / 'work/bsv'), _tree(tmp_path / 'other/bsv')
    (decoy / 'models/realnet_brainscore').mkdir()
    (decoy / 'models/realnet_brainscore/my_model.py').write_text('mine')
    decoy_before = _snapshot(decoy)
    monkeypatch.chdir(tmp_path / 'work')
    assert cli.main(['plugins', 'install', '--brainscore-vision', 'bsv']) == 0
    monkeypatch.chdir(tmp_path / 'other')  # where 'bsv' names the decoy
    assert cli.main(['plugins', 'uninstall']) == 0
    assert _snapshot(decoy) == decoy_before
    assert sorted(p.name for p in real.rglob('*')) == ['benchmarks', 'models']


def test_every_target_is_recorded_and_uninstall_takes_one_or_all(tmp_path, realnet_home, capsys):
    targets = [_tree(tmp_path / name) for name in ('a', 'b', 'c')]
    for target in targets:
        assert cli.main(['plugins', 'install', '--brainscore-vision', str(target)]) == 0
    manifest = json.loads((realnet_home / 'installed-plugins.json').read_text())
    assert [entry['brainscore_vision'] for entry in manifest['installs']] == [str(t) for t in targets]
    capsys.readouterr()

    assert cli.main(['plugins', 'uninstall', '--brainscore-vision', str(targets[0])]) == 0
    assert not (targets[0] / 'models/realnet_brainscore').exists()
    assert all((t / 'models/realnet_brainscore/__init__.py').is_file() for t in targets[1:])
    status, _, err = _run(capsys, 'plugins', 'uninstall', '--brainscore-vision', str(targets[0]))
    assert status == 2 and len(err) == 1 and 'no installation recorded in' in err[0] and str(targets[1]) in err[0]

    assert cli.main(['plugins', 'uninstall']) == 0  # every recorded target
    assert all(sorted(p.name for p in t.rglob('*')) == ['benchmarks', 'models'] for t in targets)
    assert not (realnet_home / 'installed-plugins.json').exists()


def test_uninstall_keeps_a_users_file_and_an_edited_one_and_says_so(tmp_path, realnet_home, capsys):
    target = _tree(tmp_path / 'bsv')
    assert cli.main(['plugins', 'install', '--brainscore-vision', str(target)]) == 0
    model_folder, edited = target / 'models/realnet_brainscore', target / 'benchmarks/shen2019_rsa/__init__.py'
    (model_folder / 'notes.txt').write_text('my notes')
    edited.write_text(edited.read_text() + '# my change\n')
    (model_folder / '__pycache__').mkdir()  # what importing the plugin leaves: Python's, from our files
    (model_folder / '__pycache__/model.cpython-311.pyc').write_bytes(b'bytecode')
    capsys.readouterr()

    status, out, _ = _run(capsys, 'plugins', 'uninstall')
    assert status == 0
    kept = [line for line in out if line.startswith('kept')]
    assert kept == [f'kept {edited}: changed since `brainscore plugins install`',
                    f'kept {model_folder / "notes.txt"}: not placed by `brainscore plugins install`']
    assert sorted(p.relative_to(target).as_posix() for p in target.rglob('*') if p.is_file()) == [
        'benchmarks/shen2019_rsa/__init__.py', 'models/realnet_brainscore/notes.txt']
    assert not (target / 'benchmarks/gifford2022_temporal_rsa').exists()
    assert f'removed {target / "benchmarks/gifford2022_temporal_rsa"}' in out
    assert not (realnet_home / 'installed-plugins.json').exists()  # nothing of ours is left to remove


@pytest.mark.parametrize('content, named', [
    ('{"installs": [', 'Expecting'),
    ('[1, 2]', "no 'installs' list"),
    ('{"installs": [{"brainscore_vision": "/x", "folders": []}]}', "lacks 'brainscore_vision', 'folders' or 'files'"),
    ('{"installs": [{"brainscore_vision": "/x", "folders": "/x/models/a", "files": {}}]}', 'lacks'),
    ('{"installs": [{"brainscore_vision": "bsv", "folders": [], "files": {}}]}', 'bsv is not an absolute path'),
    ('{"brainscore_vision": "bsv", "folders": ["bsv/models/realnet_brainscore"]}', 'older version'),
    ('VICTIM', 'files outside the recorded folders'),
])
def test_a_malformed_manifest_is_one_line_naming_it_and_removes_nothing(tmp_path, realnet_home, content, named,
                                                                        capsys):
    victim = tmp_path / 'bsv/models/mine/keep.py'
    victim.parent.mkdir(parents=True)
    victim.write_text('mine')
    if content == 'VICTIM':  # a record naming a user's file, with its true hash, outside the folders recorded
        content = json.dumps({'installs': [{'brainscore_vision': str(tmp_path / 'bsv'),
                                            'folders': [str(tmp_path / 'bsv/models/realnet_brainscore')],
                                            'files': {str(victim): hashlib.sha256(b'mine').hexdigest()}}]})
    realnet_home.mkdir()
    (realnet_home / 'installed-plugins.json').write_text(content)
    new_tree = _tree(tmp_path / 'new')
    for command in (['plugins', 'uninstall'], ['plugins', 'install', '--brainscore-vision', str(new_tree)]):
        status, _, err = _run(capsys, *command)
        assert status == 2 and len(err) == 1, err
        assert str(realnet_home / 'installed-plugins.json') in err[0] and named in err[0]
    assert victim.read_text() == 'mine'
    assert not (tmp_path / 'new/models/realnet_brainscore').exists()


def test_a_zip_out_is_replaced_only_with_force(tmp_path, capsys):
    out = tmp_path / 'mine.zip'
    out.write_bytes(b'a zip of my own')
    status, _, err = _run(capsys, 'submission', 'export', '--benchmarks', '--out', str(out))
    assert status == 2 and len(err) == 1 and 'exists; pass --force' in err[0]
    assert out.read_bytes() == b'a zip of my own'
    assert cli.main(['submission', 'export', '--benchmarks', '--out', str(out), '--force']) == 0
    assert check(out, check_index=False) == []


def test_an_export_that_breaks_a_rule_leaves_no_zip(tmp_path, monkeypatch, capsys):
    taken = _tree(tmp_path / 'bsv')
    (taken / 'models/theirs').mkdir()
    (taken / 'models/theirs/__init__.py').write_text("model_registry['realnet_s01'] = lambda: None\n")
    monkeypatch.setattr(installation, 'brainscore_vision_dir', lambda: taken)
    out = tmp_path / 'exports/realnet_s01.zip'
    out.parent.mkdir()
    status, _, err = _run(capsys, 'submission', 'export', '--model', 'realnet-s01', '--out', str(out))
    assert status == 2 and len(err) == 1, err
    assert "'realnet_s01' is already registered" in err[0] and 'was not written' in err[0]
    assert list(out.parent.iterdir()) == []


def test_an_unwritable_out_is_refused_before_the_weights_are_read(tmp_path, capsys):
    (tmp_path / 'a-file').write_text('')
    for out in ('a-file/x.zip', 'a-file/folder'):
        status, _, err = _run(capsys, 'submission', 'export', '--model', 'realnet-s01', '--weights', str(tmp_path / 'absent.pt'),
                              '--weights-url', 'https://example.org/w.pt', '--out', str(tmp_path / out))
        assert status == 2 and len(err) == 1 and 'a-file is a file' in err[0], err


def _never_decompress(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError('an entry was decompressed')
    monkeypatch.setattr(zipfile.ZipExtFile, 'read', refuse)


def test_a_zip_bomb_is_refused_from_its_declared_sizes_without_reading_it(tmp_path, monkeypatch, capsys):
    bomb = tmp_path / 'bomb.zip'
    with zipfile.ZipFile(bomb, 'w', zipfile.ZIP_DEFLATED) as archive:
        archive.writestr('models/my_model/__init__.py', GOOD_INIT + ' ' * 2**22)  # 4 MiB packed to a few KB
    _never_decompress(monkeypatch)
    status, _, err = _run(capsys, 'submission', 'check', str(bomb))  # the website's own caps
    assert status == 2 and any('__init__.py: compressed' in line and 'a zip bomb' in line for line in err), err

    monkeypatch.setattr(rules, 'MAX_UNPACKED_BYTES', 2**21)  # a small stand-in for the 500 MB cap
    incompressible = os.urandom(3 * 2**19)  # 1.5 MiB
    for name, entries, named in [('entry', ['big.bin'], 'models/my_model/big.bin: unpacks to 3 MB'),
                                 ('total', ['a.bin', 'b.bin'], 'the zip unpacks to 3 MB in all')]:
        archive_path = _zip(tmp_path / f'{name}.zip', {'models/my_model/__init__.py': GOOD_INIT,
                                                       **{f'models/my_model/{e}': incompressible * (3 - len(entries))
                                                          for e in entries}})
        status, _, err = _run(capsys, 'submission', 'check', str(archive_path))
        assert status == 2 and any(named in line for line in err), err


def test_registrations_are_read_from_a_bounded_head_of_init(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(rules, 'MAX_INIT_BYTES', 1024)
    long_init = _zip(tmp_path / 'long.zip', {'models/my_model/__init__.py': GOOD_INIT + '#' * 2048})
    status, _, err = _run(capsys, 'submission', 'check', str(long_init))
    assert status == 2 and len(err) == 1 and '__init__.py: over' in err[0], err


def _symlink_entry(name, target):
    entry = zipfile.ZipInfo(name)
    entry.external_attr = (stat.S_IFLNK | 0o777) << 16
    return entry, target


@pytest.mark.parametrize('entry, named', [
    ('../evil.py', "'..' in a path"),
    ('models/realnet_s01/../../../evil.py', "'..' in a path"),
    ('/tmp/evil.py', 'absolute path'),
    ('C:/evil.py', 'absolute path'),
    ('models\\my_model\\evil.py', 'backslash'),
    (_symlink_entry('models/my_model/model.py', '/etc/passwd'), 'a symbolic link'),
])
def test_check_refuses_entries_that_leave_the_plugin_folder(tmp_path, entry, named, capsys):
    path = tmp_path / 'hostile.zip'
    with zipfile.ZipFile(path, 'w') as archive:
        archive.writestr('models/my_model/__init__.py', GOOD_INIT)
        archive.writestr(*(entry if isinstance(entry, tuple) else (entry, 'import os')))
    status, _, err = _run(capsys, 'submission', 'check', str(path))
    assert status == 2 and any(named in line for line in err), err


def _corrupt(path, how):
    data = bytearray(path.read_bytes())
    if how == 'truncated':
        path.write_bytes(bytes(data[:len(data) // 2]))
        return
    at = data.index(b'model_registry')  # inside the stored __init__.py's data
    data[at] ^= 0xff
    path.write_bytes(bytes(data))


@pytest.mark.parametrize('how, named', [('bad crc', 'corrupt or unreadable zip (Bad CRC-32'),
                                        ('truncated', 'not a zip file (or a truncated one)')])
def test_a_corrupt_zip_is_one_line(tmp_path, how, named, capsys):
    path = _zip(tmp_path / 'corrupt.zip', {'models/my_model/__init__.py': GOOD_INIT})
    _corrupt(path, how)
    status, _, err = _run(capsys, 'submission', 'check', str(path))
    assert status == 2 and len(err) == 1 and named in err[0], err
