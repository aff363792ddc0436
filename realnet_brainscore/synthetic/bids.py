"""An in-silico BIDS EEG data set, written from an in-silico THINGS-EEG2 release with mne-bids.

Reads the release as the package reads every data set (``things_eeg2.dataset``, a ``DataSet``)
and writes, under ``out``:

    bids/sub-XX/eeg/sub-XX_task-images_eeg.vhdr (+ .eeg, .vmrk, channels.tsv, events.tsv, ...)
    stimuli/training_images/<concept>/<file>.jpg, stimuli/test_images/...   (the release's images)
    card.toml                                                                (format "bids")

Each subject is one continuous recording (17 EEG channels, 100 Hz, the release's rate): every trial
of both splits, one after another with ``GAP`` samples between them. A trial's event onset is the
start of its samples minus the release's first time (-0.2 s), so cutting epochs from tmin = the
first time to tmax = the last time around each onset gives back exactly that trial's samples.

Format facts relied on:
- ``mne_bids.write_raw_bids`` converts a RawArray to BrainVision with pybv as float32 in units of
  0.1 µV (mne_bids/write.py ``_write_raw_brainvision``: fmt "binary_float32", resolution 0.1, unit µV).
  The release's numbers are put in the raw as they are (MNE takes EEG to be volts), so each is
  stored as float32(x · 1e7) and read back as that times 1e-7: float32's relative precision
  (6e-8) per value, whatever its size.
- The stimulus file of each event goes in the BIDS events.tsv column ``stim_file`` (BIDS
  specification, "Task events": stim_file, relative to /stimuli). mne-bids does not write it, so it
  is added to the events.tsv mne-bids wrote, matched to its rows by their ``sample`` column, and
  described in its events.json sidecar.
- One event before the first trial, trial_type "rest", has no image (``stim_file`` n/a), as a real
  recording's non-image events have.
"""
import csv
import json
from pathlib import Path

import numpy as np

from ..data import things_eeg2
from ..errors import RealnetError
from ..data.card import card_text
from ..files import atomic_path, new_folder
from . import copy_release_images, image_name, release_subjects

SFREQ = 100.0                  # Hz: the release's rate (its times step by 10 ms)
GAP = 50                       # samples between trials
EVENT_ID = {'rest': 1, 'training': 2, 'test': 3}
TASK = 'images'
IMAGE_COLUMN = 'stim_file'


def write_bids(release, out, subjects=None) -> Path:
    """Write the BIDS data set of ``release``'s ``subjects`` (numbers; default every one it holds)
    under ``out`` (a new folder) and return the card's path."""
    release = Path(release)
    subjects = release_subjects(release, subjects)
    out = new_folder(out, inputs=[release])
    dataset = things_eeg2.dataset(release, subjects=subjects)
    for name in dataset.subjects:
        splits = {split: dataset.recording(name, split) for split in things_eeg2.SPLITS}
        times = splits['test'].times
        if not np.allclose(np.diff(times), 1 / SFREQ):
            raise RealnetError(f'{release}: times step by {np.diff(times)[:1]} s; the in-silico release steps by '
                               f'{1 / SFREQ:g} s ({SFREQ:g} Hz)')
        _write_subject(out / 'bids', name, splits, release, times)
    image_names = copy_release_images(release, out / 'stimuli')
    (out / 'card.toml').write_text(card_text({  # every subject has the release's times
        'name': 'InSilicoBIDS', 'format': 'bids', 'modality': 'EEG', 'path': 'bids', 'images': 'stimuli',
        'image_column': IMAGE_COLUMN, 'visual_degrees': 7.0, 'test_images': image_names['test'],
        'epochs': {'tmin': float(times[0]), 'tmax': float(times[-1])}}), encoding='utf-8')
    return out / 'card.toml'


def _write_subject(root: Path, name: str, splits: dict, release: Path, times: np.ndarray) -> None:
    import mne
    from mne_bids import BIDSPath, write_raw_bids
    channels = list(things_eeg2.CHANNELS)
    blocks = [np.zeros((len(channels), GAP))]
    events, stim_files = [[GAP // 5, 0, EVENT_ID['rest']]], ['n/a']  # sample, 0, code (MNE's events)
    start = GAP
    first_offset = int(round(-times[0] * SFREQ))  # samples from a trial's start to its onset
    for split, recording in splits.items():
        for path, trials in zip(recording.image_paths, recording.values):
            for trial in trials:  # channels × times
                blocks += [trial, np.zeros((len(channels), GAP))]
                events.append([start + first_offset, 0, EVENT_ID[split]])
                stim_files.append(image_name(release, path))
                start += trial.shape[1] + GAP
    data = np.concatenate(blocks, axis=1).astype(np.float64)
    info = mne.create_info(channels, SFREQ, 'eeg')
    raw = mne.io.RawArray(data, info, verbose=False)
    bids_path = BIDSPath(subject=name[4:], task=TASK, datatype='eeg', root=root)
    write_raw_bids(raw, bids_path, events=np.array(events), event_id=EVENT_ID, format='BrainVision',
                   allow_preload=True, overwrite=False, verbose=False)
    events_tsv = bids_path.copy().update(suffix='events', extension='.tsv').fpath
    add_column(events_tsv, IMAGE_COLUMN, {event[0]: stim for event, stim in zip(events, stim_files)})
    _describe_column(events_tsv.with_suffix('.json'), IMAGE_COLUMN,
                     'The image shown at onset, relative to the data set\'s stimuli folder; n/a: no image.')


def add_column(events_tsv: Path, column: str, value_of_sample: dict) -> None:
    """Add ``column`` to an events.tsv: each row's value is ``value_of_sample`` of its ``sample``."""
    with open(events_tsv, newline='', encoding='utf-8') as stream:
        rows = list(csv.DictReader(stream, delimiter='\t'))
    if not rows or 'sample' not in rows[0]:
        raise RealnetError(f'{events_tsv}: expected mne-bids to write rows with a `sample` column')
    for row in rows:
        row[column] = value_of_sample[int(row['sample'])]
    with atomic_path(events_tsv) as partial, open(partial, 'w', newline='', encoding='utf-8') as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]), delimiter='\t', lineterminator='\n')
        writer.writeheader()
        writer.writerows(rows)


def _describe_column(events_json: Path, column: str, description: str) -> None:
    """Describe ``column`` in the events.json sidecar mne-bids wrote (BIDS: extra columns are described there)."""
    sidecar = json.loads(events_json.read_text(encoding='utf-8'))
    sidecar[column] = {'Description': description}
    with atomic_path(events_json) as partial:
        Path(partial).write_text(json.dumps(sidecar, indent=4) + '\n', encoding='utf-8')
