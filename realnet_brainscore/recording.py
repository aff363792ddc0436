"""What our benchmarks ask of a Brain-Score model: one region's features for a set of images."""
from pathlib import Path

import numpy as np

TIME_BINS = [(70, 170)]


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


def region_features(candidate, region: str, stimuli, source_visual_degrees: float) -> np.ndarray:
    """images × features of ``region``, in the order of ``stimuli``, with the images placed on the
    model's screen as Brain-Score's benchmarks do."""
    from brainscore_vision.benchmark_helpers.screen import place_on_screen
    from brainscore_vision.model_interface import BrainModel
    placed = place_on_screen(stimuli, target_visual_degrees=candidate.visual_degrees(),
                             source_visual_degrees=source_visual_degrees)
    candidate.start_task(BrainModel.Task.passive)
    candidate.start_recording(region, time_bins=TIME_BINS)
    features = candidate.look_at(placed, number_of_trials=1)
    if 'time_bin' in features.dims:
        features = features.squeeze('time_bin', drop=True)
    features = features.transpose('presentation', 'neuroid')
    position = {stimulus_id: index for index, stimulus_id in enumerate(features['stimulus_id'].values)}
    return features.values[[position[i] for i in stimuli['stimulus_id']]]
