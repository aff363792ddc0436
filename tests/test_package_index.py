"""`submission check` looks each plugin's requirements up in a package index, here a PEP 503 simple
index served on loopback that serves numpy 1.26.4 and nothing else."""
import http.server
import socket
import threading
import zipfile

import pytest

from realnet_brainscore import cli
from realnet_brainscore.submission.package_index import unserved
from realnet_brainscore.submission import check

INIT = "from brainscore_vision import model_registry\nmodel_registry['my_model'] = lambda: None\n"
NUMPY_FILES = ('numpy-1.26.4-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl', 'numpy-1.26.4.tar.gz',
               'numpy-1.26.4.win32-py3.11.exe')  # an installer: no wheel nor sdist, its version is not read


class SimpleIndex(http.server.BaseHTTPRequestHandler):
    """/simple/numpy/ lists NUMPY_FILES; every other path is 404. Each request path is recorded."""
    requested = []

    def do_GET(self):
        self.requested.append(self.path)
        if self.path != '/simple/numpy/':
            self.send_error(404)
            return
        links = ''.join(f'<a href="../../files/{name}#sha256=00">{name}</a><br/>\n' for name in NUMPY_FILES)
        body = f'<!DOCTYPE html><html><body><h1>Links for numpy</h1>\n{links}</body></html>'.encode()
        self.send_response(200)
        self.send_header('Content-Type', 'text/html')
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope='module')
def index():
    httpd = http.server.ThreadingHTTPServer(('127.0.0.1', 0), SimpleIndex)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f'http://127.0.0.1:{httpd.server_address[1]}/simple/'
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def dead_index():
    """The URL of a loopback port nothing listens on: connecting is refused at once."""
    with socket.socket() as probe:
        probe.bind(('127.0.0.1', 0))
        port = probe.getsockname()[1]
    return f'http://127.0.0.1:{port}/simple/'


def submission(tmp_path, requirements: str, plugin='my_model'):
    path = tmp_path / f'{plugin}.zip'
    with zipfile.ZipFile(path, 'w') as archive:
        archive.writestr(f'models/{plugin}/__init__.py', INIT.replace('my_model', plugin))
        archive.writestr(f'models/{plugin}/requirements.txt', requirements)
    return path


def test_a_requirement_the_index_does_not_serve_is_refused(tmp_path, index):
    problems = check(submission(tmp_path, 'numpy==1.26.4\nrealnet-brainscore==0.1.0\n'), index_url=index)
    assert problems == [f"requirement 'realnet-brainscore==0.1.0' (in models/my_model/requirements.txt): the index "
                        f"{index} serves no package 'realnet-brainscore'"] and problems.notes == []


@pytest.mark.parametrize('requirements', [
    'numpy==1.26.4\n', 'NumPy>=1.20,<2  # inline comment\n', '# only numpy\n\nnumpy\n', 'numpy[extra]==1.26.*\n',
    'numpy==1.26.4 \\\n  ; python_version >= "3"\n'])  # a continuation line, then a marker
def test_requirements_the_index_serves_pass(tmp_path, index, requirements):
    problems = check(submission(tmp_path, requirements), index_url=index)
    assert problems == [] and problems.notes == []


def test_a_version_the_index_does_not_serve_is_refused_naming_those_it_does(tmp_path, index):
    problems = check(submission(tmp_path, 'numpy==9.9\n'), index_url=index)
    assert problems == [f"requirement 'numpy==9.9' (in models/my_model/requirements.txt): the index {index} serves "
                        "no numpy matching '==9.9' (its newest: 1.26.4)"]


@pytest.mark.parametrize('line, named', [
    ('-r other.txt', 'an option'), ('--index-url https://example.org/simple', 'an option'),
    ('-e git+https://example.org/repo.git#egg=x', 'an option'),
    ('https://example.org/x-1.0.tar.gz', 'not a requirement'), ('./vendored/x', 'not a requirement'),
    ('x @ https://example.org/x-1.0.tar.gz', 'a direct URL reference')])
def test_a_line_that_is_not_a_requirement_by_name_is_refused(tmp_path, index, line, named):
    problems = check(submission(tmp_path, f'numpy==1.26.4\n{line}\n'), index_url=index)
    assert len(problems) == 1, problems
    assert problems[0].startswith(f'line {line!r} (in models/my_model/requirements.txt): {named}')


def test_each_project_page_is_fetched_once(tmp_path, index):
    SimpleIndex.requested.clear()
    files = {f'models/{p}/requirements.txt': 'numpy==1.26.4\nabsent-thing\nNumPy\n' for p in ('a', 'b')}
    problems, unchecked = unserved(files, index)
    assert len(problems) == 2 and unchecked is None
    assert sorted(SimpleIndex.requested) == ['/simple/absent-thing/', '/simple/numpy/']


def test_an_index_that_does_not_answer_is_a_note_not_a_problem(tmp_path, dead_index):
    problems = check(submission(tmp_path, 'realnet-brainscore==0.1.0\n-r other.txt\n'), index_url=dead_index)
    assert len(problems) == 1 and "line '-r other.txt'" in problems[0]  # needs no index
    assert len(problems.notes) == 1 and problems.notes[0].startswith(
        f'could not check the requirements against {dead_index}: ') and 'refused' in problems.notes[0]


def test_the_cli_refuses_an_unserved_requirement_and_notes_an_index_it_could_not_ask(tmp_path, index, dead_index,
                                                                                     capsys):
    path = submission(tmp_path, 'numpy==1.26.4\nrealnet-brainscore==0.1.0\n')
    assert cli.main(['submission', 'check', str(path), '--index-url', index]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "'realnet-brainscore==0.1.0'" in err[0] and 'serves no package' in err[0], err
    assert cli.main(['submission', 'check', str(path), '--index-url', dead_index]) == 0
    out, err = capsys.readouterr()
    assert 'passes every website rule' in out
    assert len(err.strip().splitlines()) == 1 and err.startswith(f'note: could not check the requirements against '
                                                                 f'{dead_index}'), err
    assert cli.main(['submission', 'check', str(path), '--index-url', 'pypi.org/simple']) == 2
    assert 'must be an http:// or https:// URL' in capsys.readouterr().err


def test_check_index_false_asks_no_index(tmp_path, monkeypatch):
    monkeypatch.setattr('urllib.request.urlopen', lambda *a, **k: pytest.fail('the index was asked'))
    assert check(submission(tmp_path, 'realnet-brainscore==0.1.0\n'), check_index=False) == []
