"""Brain-Score's plugin test: the benchmarks register and score a model on in-silico subjects."""
import numpy as np
import pytest

from realnet_brainscore.cornet import AREAS


@pytest.mark.parametrize('region', AREAS)
def test_registered(region):
    from brainscore_vision import benchmark_registry  # this package's __init__ has registered
    assert f'Gifford2022.{region}-temporal_rsa' in benchmark_registry


def test_identical_eeg_gives_a_perfect_raw_score(tmp_path):
    """A 'model' whose features are subject 1's repetition-averaged (standardised, as the benchmark
    reads it) EEG at 100 ms matches it: ρ = 1 with correlation RDMs."""
    from realnet_brainscore.data.things_eeg2 import load_subject, standardise, trials
    from realnet_brainscore.synthetic import Design, write_things_eeg2
    from realnet_brainscore.rsa import model_rdm, spearman
    from .benchmark import eeg_reference
    root = write_things_eeg2(tmp_path / 'things', Design(subjects=3, concepts=2, images_per_concept=1,
                                                         test_images=12, test_repetitions=5, image_size=16))
    reference = eeg_reference(str(root), None, 'correlation')
    _, _, times, data = trials(load_subject(root, 1, 'test'))
    data = standardise(data)
    at = int(np.argmin(abs(times - 0.1)))
    rho = spearman(model_rdm(data.mean(axis=1)[:, :, at]), reference.rdms)
    assert rho[0, at] == pytest.approx(1.0)
