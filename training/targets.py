"""What the network learns to generate: one subject's responses to the training images, or a group's.

EEG (THINGS-EEG2): the repetition-averaged EEG in a time window, channels × times per image, as the
authors. fMRI (Shen 2019, ReAlnet-fMRI): the repetition-averaged visual-cortex voxels, reduced to
``FMRI_DIMENSIONS`` principal components fitted on the training part only (the authors' targets had
1,024 dimensions; how they made them is not published, docs/faithfulness.md#realnet-fmri). A group's targets are its
subjects' targets side by side: one head output per subject and feature, each z-scored as that
subject's alone.
"""
from typing import NamedTuple

import numpy as np

from ..data.dataset import numbered_subject
from ..errors import RealnetError
from .data import window_of

FMRI_DIMENSIONS = 1024


class Responses(NamedTuple):
    image_paths: list[str]         # one per row, the same for every subject
    subjects: list[np.ndarray]     # per subject: images × features, float32, as recorded (before reduction)


def responses(source, recipe, split: str = 'training') -> Responses:
    """The responses of ``source``'s subject (or group) to the images of ``split``, as ``recipe`` cuts
    them: M/EEG, the repetition-averaged channels × times of the recipe's window; fMRI, the
    repetition-averaged voxels (reduced later)."""
    dataset = source.dataset(recipe.drop_nan_voxels)
    found = []
    for subject in source.subjects:
        recording = dataset.recording(numbered_subject(subject), split)
        averaged = recording.averaged()
        if recording.times is not None:
            averaged = window_of(averaged, recording.times, list(recording.channels), recipe.window, recipe.channels)
        found.append(([str(p) for p in recording.image_paths], averaged.reshape(len(averaged), -1)))
    paths = found[0][0]
    for subject, (other, _) in zip(source.subjects, found):
        if other != paths:
            raise RealnetError(f'subject {subject} saw other {split} images than subject {source.subjects[0]}: '
                               'a group model needs one image set')
    return Responses(paths, [values.astype(np.float32) for _, values in found])


def reduced(values: np.ndarray, train: np.ndarray, dimensions: int = FMRI_DIMENSIONS) -> np.ndarray:
    """``values`` projected on the first ``dimensions`` principal components of its ``train`` rows
    (fewer when the rows or columns are fewer); the held-out rows take no part in the fit."""
    from sklearn.decomposition import PCA
    n = min(dimensions, len(train) - 1, values.shape[1])
    pca = PCA(n_components=n, svd_solver='full').fit(values[train].astype(np.float64))
    return pca.transform(values.astype(np.float64)).astype(np.float32)


def zscore_statistics(values: np.ndarray, train: np.ndarray, zscore: str):
    """(mean, SD) broadcastable to a target row: shape (1,) per subject, (n_features,) per feature."""
    if zscore == 'subject':
        # The authors' preprocessed_mean_overall.npy: one mean and one SD over the subject's whole
        # training array. As in their code the held-out images count too; two scalars over ~560,000
        # values carry next to nothing about the held-out 10 %.
        return np.array([values.mean()], dtype=np.float32), np.array([values.std() + 1e-6], dtype=np.float32)
    return values[train].mean(0), values[train].std(0) + 1e-6


def side_by_side(statistics: list[tuple[np.ndarray, np.ndarray]], widths: list[int]):
    """One subject's (mean, SD) as they are; a group's spread over each subject's own features."""
    if len(statistics) == 1:
        return statistics[0]
    return tuple(np.concatenate([np.broadcast_to(pair[k], (width,)) for pair, width in zip(statistics, widths)])
                 .astype(np.float32) for k in (0, 1))
