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
