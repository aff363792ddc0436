"""Fixtures shared by the tests, and the run's environment.

Homes: Brain-Score's caches live in one scratch folder for the run. Each test has its own
``$REALNET_HOME`` (weights, installed-plugins.json), so no test sees another's weights; its
``cache/`` (decoding EEG RDMs, training image caches) is the run's one shared cache folder, because
both are kept under a key of their contents: a test gets the same numbers whether or not another
test computed them first. A test that looks inside its home requests ``realnet_home``: then it
gets an empty home of its own, cache included, that does not exist until something writes it.

Markers: ``slow`` marks end-to-end tests that train networks (their modules or functions say so, and
every test that uses the run's trained ReAlnet, the ``aligned`` fixture, is marked so here). CI runs
them all; ``pytest -m "not slow"`` is the quick loop.
"""
import os
import socket
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
_SHARED_CACHE = os.path.join(_SCRATCH, 'realnet-cache')


def pytest_collection_modifyitems(items):
    for item in items:
        if 'aligned' in getattr(item, 'fixturenames', ()):
            item.add_marker(pytest.mark.slow)


def pytest_sessionfinish(session, exitstatus):
    shutil.rmtree(_SCRATCH, ignore_errors=True)


@pytest.fixture
def realnet_home(tmp_path, monkeypatch):
    """An empty ``$REALNET_HOME`` of this test's own, not created: for tests that look inside it."""
    home = tmp_path / 'realnet-home'
    monkeypatch.setenv('REALNET_HOME', str(home))
    return home


@pytest.fixture(autouse=True)
def home_with_the_runs_cache(request, monkeypatch):
    """Every other test: a ``$REALNET_HOME`` of its own (outside ``tmp_path``, which some tests list)
    whose ``cache/`` is the run's shared cache folder."""
    if 'realnet_home' in request.fixturenames:
        yield None
        return
    home = tempfile.mkdtemp(prefix='home-', dir=_SCRATCH)
    os.makedirs(_SHARED_CACHE, exist_ok=True)
    os.symlink(_SHARED_CACHE, os.path.join(home, 'cache'))
    monkeypatch.setenv('REALNET_HOME', home)
    yield home
    shutil.rmtree(home, ignore_errors=True)  # weights a test cached: not kept for the whole run


@pytest.fixture(scope='session')
def insilico(tmp_path_factory):
    """An in-silico THINGS-EEG2 release (10 subjects; 100 training, 30 test images × 20 repetitions)
    and a CORnet-S to start training from (random weights, batch norm calibrated on the images)."""
    from factories import SIZE, write_dicarlolab_checkpoint
    from realnet_brainscore.data.things_eeg2 import image_paths
    from realnet_brainscore.synthetic import Design, insilico_cornet, write_things_eeg2
    root = tmp_path_factory.mktemp('insilico')
    release = write_things_eeg2(root / 'things', Design(subjects=10, concepts=20, images_per_concept=5,
                                                        test_images=30, test_repetitions=20, image_size=SIZE))
    base = root / 'cornet.pth'
    write_dicarlolab_checkpoint(base, insilico_cornet(image_paths(release, 'training'), SIZE))
    return release, base, root


@pytest.fixture(scope='session')
def aligned(insilico):
    """ReAlnet of in-silico subject 1: the default `paper` recipe, 3 epochs at lr 6e-5, 64 px (about 50 s on
    two cores)."""
    from factories import SIZE
    from realnet_brainscore.training import Recipe, Runtime, Source, train
    release, base, root = insilico
    settings = (Source(things_eeg2=release, subject=1),
                Recipe(backbone_weights=base, image_size=SIZE, epochs=3, lr=6e-5),
                Runtime(out=root / 'run', progress=False, cache_dir=root / 'cache'))
    return settings, train(*settings)  # ((source, recipe, runtime), summary)


@pytest.fixture(scope='session')
def resnet_start(insilico):
    """A ResNet-18 to align with the `insilico` data: random weights, batch norm calibrated on its
    training images, recorded as trained at their size (it is scored at that size)."""
    from factories import SIZE, write_calibrated_resnet18
    release, _, root = insilico
    return write_calibrated_resnet18(root / 'resnet18.pth', release, SIZE, meta={'config': {'image_size': SIZE}})


@pytest.fixture(scope='session')
def small(tmp_path_factory):
    """Tests of the training loop train here: see ``factories.SmallRuns``."""
    from factories import SmallRuns, write_calibrated_resnet18
    from realnet_brainscore.synthetic import Design, write_things_eeg2
    root = tmp_path_factory.mktemp('small')
    runs = SmallRuns(root / 'things', root / 'resnet18.pth', root / 'cache')
    write_things_eeg2(runs.things_eeg2, Design(subjects=2, concepts=4, images_per_concept=5, test_images=10,
                                               image_size=runs.image_size))
    write_calibrated_resnet18(runs.weights, runs.things_eeg2, runs.image_size)
    return runs


@pytest.fixture
def no_network(monkeypatch):
    """Every attempt to reach the network is recorded and fails (a test asserts there was none)."""
    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(args)
        raise OSError('the network was used')
    for name in ('create_connection', 'getaddrinfo'):
        monkeypatch.setattr(socket, name, refuse)
    monkeypatch.setattr(socket.socket, 'connect', refuse)
    return attempts
