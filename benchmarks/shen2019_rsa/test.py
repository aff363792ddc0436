"""Brain-Score's plugin test: the ROI benchmarks register and read in-silico Shen 2019 data."""
import pytest

from realnet_brainscore.data.shen2019 import ROIS


@pytest.mark.parametrize('roi', ROIS)
def test_registered(roi):
    from brainscore_vision import benchmark_registry  # this package's __init__ has registered
    assert f'Shen2019.{roi}-rsa' in benchmark_registry


def test_reference_of_in_silico_data(tmp_path):
    from realnet_brainscore.synthetic import ShenDesign, write_shen2019
    from .benchmark import roi_reference
    folder = write_shen2019(tmp_path / 'shen', ShenDesign(voxels_per_roi=20, image_size=16))
    reference = roi_reference(str(folder), 'HVC')
    assert reference.rdms.shape == (3, 50 * 49 // 2) and len(reference.stimulus_ids) == 50
    assert (reference.ceilings > 0.5).all() and (reference.ceilings <= 1).all()
