"""An in-silico MNE Epochs data set, written from an in-silico THINGS-EEG2 release with MNE.

Reads the release as the package reads every data set (``things_eeg2.dataset``, a ``DataSet``)
and writes, under ``out``:

    epochs/sub-XX-epo.fif                                                    (one Epochs file per subject)
    stimuli/training_images/<concept>/<file>.jpg, stimuli/test_images/...   (the release's images)
    card.toml                                                                (format "mne-epochs")

Each subject's file holds one epoch per trial of both splits (training images, then test images,
each image's repetitions together), made with ``mne.EpochsArray``: the release's channels as type
'eeg', its rate (100 Hz, from its times), tmin its first time, and ``Epochs.metadata`` a DataFrame
with the column ``image_file``: each epoch's image, named as under the release's ``image_set`` (and
so under ``stimuli/``). Event codes say the split (``EVENT_ID``); event samples are consecutive,
one epoch length apart, as epochs cut from one recording would be.

Format facts relied on:
- ``Epochs.save`` writes samples as single-precision floats by default (``fmt='single'``) and
  ``mne.create_info`` gives EEG channels calibration 1: the reader's float32 values are the
  release's float32 values exactly. The release's numbers go in as they are (MNE takes EEG to be
  volts).
"""
from pathlib import Path

import numpy as np

from ..data import things_eeg2
from ..errors import RealnetError
from ..data.card import card_text
from ..files import new_folder
from . import copy_release_images, image_name, release_subjects

IMAGE_COLUMN = 'image_file'
EVENT_ID = {'training': 1, 'test': 2}


def write_mne_epochs(release, out, subjects=None) -> Path:
    """Write the Epochs data set of ``release``'s ``subjects`` (numbers; default every one it holds)
    under ``out`` (a new folder) and return the card's path."""
    release = Path(release)
    subjects = release_subjects(release, subjects)
    out = new_folder(out, inputs=[release])
    dataset = things_eeg2.dataset(release, subjects=subjects)
    for name in dataset.subjects:
        _write_subject(out / 'epochs' / f'{name}-epo.fif', release, dataset, name)
    image_names = copy_release_images(release, out / 'stimuli')
    (out / 'card.toml').write_text(card_text({
        'name': 'InSilicoEpochs', 'format': 'mne-epochs', 'modality': 'EEG', 'path': 'epochs', 'images': 'stimuli',
        'image_column': IMAGE_COLUMN, 'visual_degrees': 7.0, 'test_images': image_names['test']}), encoding='utf-8')
    return out / 'card.toml'


def _write_subject(path: Path, release: Path, dataset, subject: str) -> None:
    """One Epochs file: every trial of ``subject`` in both splits, each epoch's image in its metadata."""
    import mne
    import pandas as pd
    values, names, codes = [], [], []
    for split in things_eeg2.SPLITS:
        recording = dataset.recording(subject, split)
        times, channels = recording.times, list(recording.channels)
        for image_path, image_trials in zip(recording.image_paths, recording.values):  # repetitions × channels × times
            values.extend(image_trials)
            names += [image_name(release, image_path)] * len(image_trials)
            codes += [EVENT_ID[split]] * len(image_trials)
    times = np.asarray(times, dtype=float)
    steps = np.diff(times)
    if len(times) < 2 or not np.allclose(steps, steps[0]):
        raise RealnetError(f'{release}: the times of {subject} are not evenly spaced; an Epochs file '
                           'needs one rate')
    samples = np.arange(len(values)) * len(times)
    events = np.column_stack([samples, np.zeros_like(samples), codes])
    info = mne.create_info(channels, round(1 / float(steps[0]), 6), 'eeg')
    epochs = mne.EpochsArray(np.stack(values), info, events, tmin=float(times[0]), event_id=EVENT_ID,
                             metadata=pd.DataFrame({IMAGE_COLUMN: names}), verbose=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    epochs.save(path, verbose=False)
