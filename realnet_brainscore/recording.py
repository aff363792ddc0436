"""What our benchmarks ask of a Brain-Score model: one region's features for a set of images."""
from pathlib import Path

import numpy as np

from .errors import RealnetError

TIME_BINS = [(70, 170)]
# How the benchmark images reach the model (the benchmarks' ``screen`` option).
SCREENS = {
    'brainscore': "Brain-Score's screen: each image at its visual angle on the model's field of view, shrunk onto "
                  "grey when it spans fewer degrees, centre-cropped when more, then resized to the model's input",
    'whole': "the whole image resized to the model's input size, no crop and no padding, as the authors fed it",
}


def stimulus_set(stimulus_ids: list, image_paths: list, name: str):
    """A Brain-Score StimulusSet of these images; its identifier (the activation cache's key) changes
    with the image list."""
    import hashlib
    from brainscore_core.supported_data_standards.brainio.stimuli import StimulusSet
    stimuli = StimulusSet({'stimulus_id': list(stimulus_ids)})
    stimuli.stimulus_paths = dict(zip(stimulus_ids, map(Path, image_paths)))
    digest = hashlib.sha1('\n'.join(f'{i}\t{p}' for i, p in zip(stimulus_ids, image_paths)).encode()).hexdigest()
    stimuli.identifier = f'{name}-{digest[:10]}'
    return stimuli


def check_images(paths) -> None:
    """Decode every stimulus image once, up front: a damaged, empty or oversized file is one line
    naming it, not an error from deep inside Brain-Score's image loading after the data are read."""
    from .images import opened_image
    for path in paths:
        with opened_image(path) as image:
            image.draft('RGB', (64, 64))  # JPEGs decode at a reduced scale: every byte is still read
            image.load()


def check_screen(screen: str) -> str:
    if screen not in SCREENS:
        raise RealnetError(f"unknown screen {screen!r}: choose {' or '.join(map(repr, SCREENS))}")
    return screen


def on_screen(stimuli, screen: str, model_visual_degrees: float, source_visual_degrees: float):
    """The images as ``screen`` shows them to the model. 'whole' leaves the files as they are: the
    model's own preprocessing (Brain-Score's ``load_preprocess_images``: ``Resize((size, size))``,
    no crop) then resizes each whole image to its input, as the authors' ``transforms.Resize((224,
    224))`` did. Its identifier is marked, so that Brain-Score's activation cache (keyed by model and
    stimulus-set identifier) never serves one screen's activations for the other."""
    if check_screen(screen) == 'brainscore':
        from brainscore_vision.benchmark_helpers.screen import place_on_screen
        return place_on_screen(stimuli, target_visual_degrees=model_visual_degrees,
                               source_visual_degrees=source_visual_degrees)
    from brainscore_core.supported_data_standards.brainio.stimuli import StimulusSet
    whole = StimulusSet(stimuli.copy(deep=True))
    whole.stimulus_paths = dict(stimuli.stimulus_paths)
    # '--<marker>' is Brain-Score's convention for a set derived from another (cache_key.py)
    whole.identifier = f'{stimuli.identifier}--whole'
    return whole


def region_rdm(candidate, region: str, stimuli, source_visual_degrees: float, screen: str = 'brainscore') -> np.ndarray:
    """The model RDM of ``region`` (1 − Pearson r between the images' features, see rsa.model_rdm),
    refused when it cannot be compared: broken weights give NaN activations, which rsatoolbox would
    only report as "rdm1 and rdm2 have different nan positions"."""
    from .rsa import model_rdm
    features = region_features(candidate, region, stimuli, source_visual_degrees, screen)
    if not np.isfinite(features).all():
        raise RealnetError(f'{_name(candidate)}: {region} activations hold NaN/inf: its weights are probably broken')
    with np.errstate(invalid='ignore', divide='ignore'):  # the check below says it in one line
        rdm = model_rdm(features)
    if not np.isfinite(rdm).all():
        raise RealnetError(f'{_name(candidate)}: {region} activations are constant across features for some image, '
                           f'so its RDM is undefined: its weights are probably broken')
    return rdm


def _name(candidate) -> str:
    try:
        return candidate.identifier
    except (AttributeError, NotImplementedError):  # BrainModel's own identifier raises
        return 'the model'


def region_features(candidate, region: str, stimuli, source_visual_degrees: float,
                    screen: str = 'brainscore') -> np.ndarray:
    """images × features of ``region``, in the order of ``stimuli``, with the images shown as
    ``screen`` says (see ``on_screen``)."""
    from brainscore_vision.model_interface import BrainModel
    placed = on_screen(stimuli, screen, candidate.visual_degrees(), source_visual_degrees)
    candidate.start_task(BrainModel.Task.passive)
    candidate.start_recording(region, time_bins=TIME_BINS)
    features = candidate.look_at(placed, number_of_trials=1)
    if 'time_bin' in features.dims:
        features = features.squeeze('time_bin', drop=True)
    features = features.transpose('presentation', 'neuroid')
    position = {stimulus_id: index for index, stimulus_id in enumerate(features['stimulus_id'].values)}
    return features.values[[position[i] for i in stimuli['stimulus_id']]]
