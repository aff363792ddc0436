import os
import shutil
import tempfile

import pytest

# Brain-Score and result_caching read these when they are imported (their caches are created at
# import time), so they are set here, before any test module imports them.
_SCRATCH = tempfile.mkdtemp(prefix='realnet-tests-')
for _variable in ('RESULTCACHING_HOME', 'BRAINIO_HOME', 'BRAINSCORE_HOME', 'MT_HOME'):
    os.environ[_variable] = os.path.join(_SCRATCH, _variable.lower())
os.environ['BS_INSTALL_DEPENDENCIES'] = 'no'
os.environ.pop('REALNET_OFFLINE', None)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_SCRATCH, ignore_errors=True)


@pytest.fixture(autouse=True)
def realnet_home(tmp_path, monkeypatch):
    """Each test gets an empty weights cache."""
    home = tmp_path / 'realnet-home'
    monkeypatch.setenv('REALNET_HOME', str(home))
    return home
