"""The benchmarks' ``screen``: Brain-Score's (images at their visual angle on the model's field of
view) or whole images resized to the model's input, as the authors fed them."""
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import xarray as xr
from brainscore_vision.model_interface import BrainModel
from PIL import Image
from torchvision import transforms

from factories import SIZE, random_cornet, write_dicarlolab_checkpoint
from realnet_brainscore import RealnetError, load_benchmark, load_model
from realnet_brainscore.recording import region_features, stimulus_set
from realnet_brainscore.synthetic import Design, ShenDesign, write_shen2019, write_things_eeg2


class SeeingModel(BrainModel):
    """An 8° model that keeps every image it is shown and answers with an 8 × 8 thumbnail of it."""

    def __init__(self):
        self.seen = []  # (stimulus-set identifier, [images as arrays])

    def visual_degrees(self):
        return 8

    def start_task(self, task, *args, **kwargs):
        pass

    def start_recording(self, region, time_bins):
        pass

    def look_at(self, stimuli, number_of_trials=1):
        ids = list(stimuli['stimulus_id'])
        images = [np.asarray(Image.open(stimuli.get_stimulus(i)).convert('RGB')) for i in ids]
        self.seen.append((stimuli.identifier, images))
        thumbnails = np.stack([np.asarray(Image.fromarray(image).resize((8, 8))) for image in images])
        return xr.DataArray(thumbnails.reshape(len(ids), -1).astype(float), dims=('presentation', 'neuroid'),
                            coords={'stimulus_id': ('presentation', ids)})


def framed_images(folder, count=3, size=90, frame=15):
    """Square images whose outer ``frame`` pixels are red and whose inside is a shade of blue."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        pixels = np.zeros((size, size, 3), dtype=np.uint8)
        pixels[...] = (255, 0, 0)
        pixels[frame:-frame, frame:-frame] = (0, 0, 100 + 50 * index)
        paths.append(folder / f'framed_{index}.png')
        Image.fromarray(pixels).save(paths[-1])
    return stimulus_set([f'framed-{i}' for i in range(count)], paths, 'realnet-test-framed'), paths


def test_whole_shows_the_image_as_it_is_and_brainscore_places_it(tmp_path):
    stimuli, paths = framed_images(tmp_path / 'images')
    originals = [np.asarray(Image.open(p).convert('RGB')) for p in paths]
    model = SeeingModel()
    for degrees in (12, 7):
        for screen in ('whole', 'brainscore'):
            region_features(model, 'IT', stimuli, degrees, screen)
    (whole12, whole), (placed12, cropped), (whole7, whole_again), (placed7, shrunk) = model.seen
    for seen in (whole, whole_again):  # the files as they are: the frame included
        assert all(np.array_equal(a, b) for a, b in zip(seen, originals))
    # Shen 2019 (12°) on an 8° screen: the central two thirds, so the red frame is gone
    assert cropped[0].shape == (60, 60, 3) and not (cropped[0][..., 0] > 128).any()
    # THINGS-EEG2 (7°) on an 8° screen: the image, smaller than the screen, on a grey margin
    assert shrunk[0].shape == (103, 103, 3) and (shrunk[0][0, 0] == (128, 128, 128)).all()
    assert np.array_equal(shrunk[0][6:96, 6:96], originals[0])
    # Brain-Score's activation cache is keyed by the stimulus-set identifier: one per screen
    assert whole12 == whole7 == f'{stimuli.identifier}--whole'
    assert len({whole12, placed12, placed7}) == 3 and stimuli.identifier in placed12
    with pytest.raises(RealnetError, match="unknown screen 'full': choose 'brainscore' or 'whole'"):
        region_features(model, 'IT', stimuli, 12, 'full')


def test_whole_is_the_authors_input_through_brainscore_preprocessing(tmp_path):
    """A real model (random CORnet-S at 64 px): with 'whole', Brain-Score's preprocessing gives it
    exactly the authors' input, transforms.Resize((size, size)) of the whole image (no crop), even
    right after the same model saw the same images on Brain-Score's screen."""
    stimuli, paths = framed_images(tmp_path / 'images', size=96)
    network = random_cornet(seed=5)
    weights = tmp_path / 'cornet.pth'
    write_dicarlolab_checkpoint(weights, network)
    model = load_model('cornet-s', weights=weights, batch_size=3, image_size=SIZE)
    authors = transforms.Compose([transforms.Resize((SIZE, SIZE)), transforms.ToTensor(),
                                  transforms.Normalize([0.485, 0.456, 0.406], [0.229, 0.224, 0.225])])
    with torch.no_grad():
        expected = network.forward_areas(torch.stack([authors(Image.open(p).convert('RGB')) for p in paths]))
    expected = expected['V1'].flatten(1).numpy()
    placed = region_features(model, 'V1', stimuli, 12, 'brainscore')
    whole = region_features(model, 'V1', stimuli, 12, 'whole')
    np.testing.assert_allclose(whole, expected, rtol=1e-4, atol=1e-5)
    assert np.abs(placed - expected).max() > 0.1
    cached = {path.name.split(',')[1] for path in Path(os.environ['RESULTCACHING_HOME']).rglob(
        f'identifier={model.identifier},*')}
    assert cached == {f'stimuli_identifier={stimuli.identifier}--whole',
                      f'stimuli_identifier={stimuli.identifier}--target8.00--source12.00'}


@pytest.fixture(scope='module')
def small_data(tmp_path_factory):
    root = tmp_path_factory.mktemp('screen')
    things = write_things_eeg2(root / 'things', Design(subjects=2, concepts=2, images_per_concept=1, test_images=6,
                                                       test_repetitions=4, image_size=21))
    shen = write_shen2019(root / 'shen', ShenDesign(voxels_per_roi=10, image_size=21))
    return things, shen


@pytest.mark.parametrize('screen, shen_side, things_side', [('whole', 21, 21), ('brainscore', 14, 24)])
def test_both_benchmark_families_take_the_screen_and_say_so(small_data, screen, shen_side, things_side):
    things, shen = small_data
    model = SeeingModel()
    eeg = load_benchmark('Gifford2022.IT-temporal_rsa', things_eeg2=things, method='correlation', screen=screen)
    fmri = load_benchmark('Shen2019.V1-rsa', shen2019=shen, screen=screen)
    assert eeg(model).attrs['screen'] == fmri(model).attrs['screen'] == screen
    assert eeg.settings()['screen'] == fmri.settings()['screen'] == screen
    (_, things_seen), (_, shen_seen) = model.seen
    assert things_seen[0].shape[0] == things_side and shen_seen[0].shape[0] == shen_side


def test_an_unknown_screen_is_refused_in_one_line(small_data):
    with pytest.raises(RealnetError, match="^unknown screen 'whole-image': choose 'brainscore' or 'whole'$"):
        load_benchmark('Shen2019.V1-rsa', shen2019=small_data[1], screen='whole-image')(SeeingModel())
