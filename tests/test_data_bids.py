"""The BIDS reader (card format ``bids``), on BIDS EEG written by mne-bids from an in-silico THINGS-EEG2
release: the right answer is the release itself, read by the THINGS-EEG2 reader."""
import csv
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest

from factories import damageable_copy
from realnet_brainscore import RealnetError
from realnet_brainscore.data import bids, things_eeg2
from realnet_brainscore.data.card import load_card
from realnet_brainscore.synthetic import Design, write_things_eeg2
from realnet_brainscore.synthetic.bids import write_bids

TINY = Design(subjects=2, concepts=3, images_per_concept=2, test_images=3, train_repetitions=2, test_repetitions=3,
              image_size=32)
# BrainVision via mne-bids stores float32(x · 1e7) and reads it back × 1e-7 (see synthetic/bids.py); the
# reader then casts to float32: two roundings of float32's relative precision (6e-8) each, so 1e-6 is ample.
RTOL = 1e-6


@pytest.fixture(scope='module')
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp('bids')
    release = write_things_eeg2(root / 'release', TINY)
    return release, write_bids(release, root / 'insilico')


@pytest.fixture
def copy(written, tmp_path):
    return damageable_copy(written[1], tmp_path)


def _events_tsv(card, subject='01'):
    return card.parent / 'bids' / f'sub-{subject}' / 'eeg' / f'sub-{subject}_task-images_events.tsv'


def _rows(path):
    with open(path, newline='') as stream:
        return list(csv.DictReader(stream, delimiter='\t'))


def _write_rows(path, rows):
    with open(path, 'w', newline='') as stream:
        writer = csv.DictWriter(stream, fieldnames=list(rows[0]), delimiter='\t', lineterminator='\n')
        writer.writeheader()
        writer.writerows(rows)


def _edit_card(card, old, new):
    text = card.read_text()
    assert old in text
    card.write_text(text.replace(old, new))


def _error(card) -> str:
    with pytest.raises(RealnetError) as error:
        data = bids.read(load_card(card))
        for subject in data.subjects:
            data.recording(subject, 'test')
    message = str(error.value)
    assert '\n' not in message
    return message


def test_every_subject_and_split_gives_back_the_release(written):
    release, card = written
    data = bids.read(load_card(card))
    assert data.subjects == ('sub-01', 'sub-02') and data.modality == 'EEG' and data.visual_degrees == 7.0
    for subject in (1, 2):
        for split in ('training', 'test'):
            ids, paths, times, values = things_eeg2.trials(things_eeg2.load_subject(release, subject, split))
            recording = data.recording(f'sub-{subject:02d}', split)
            names = [p.relative_to(release / 'image_set').as_posix() for p in map(Path, paths)]
            assert set(recording.stimulus_ids) == set(names) and len(names) == len(recording.stimulus_ids)
            order = [recording.stimulus_ids.index(name) for name in names]
            np.testing.assert_allclose(recording.values[order], values, rtol=RTOL, atol=0)
            np.testing.assert_allclose(recording.times, times, atol=1e-9)
            assert recording.channels == things_eeg2.CHANNELS and recording.dropped == 0
            assert all(path.read_bytes() == Path(original).read_bytes()
                       for path, original in zip([recording.image_paths[i] for i in order], paths))
    assert data.test_images == frozenset(data.split_ids('test')) and len(data.split_ids('test')) == 3


def test_card_channels_pick_and_order_them(written, copy):
    _edit_card(copy, 'visual_degrees', 'channels = ["Oz", "Pz"]\nvisual_degrees')
    recording = bids.read(load_card(copy)).recording('sub-02', 'test')
    whole = bids.read(load_card(written[1])).recording('sub-02', 'test')
    assert recording.channels == ('Oz', 'Pz')
    np.testing.assert_array_equal(recording.values, whole.values[:, :, [4, 0]])


def test_a_subjects_runs_are_concatenated(written, copy):
    """sub-01 gets a second run, the first one written again by mne-bids: each image, twice the trials."""
    import mne_bids
    root = copy.parent / 'bids'
    first = mne_bids.BIDSPath(subject='01', task='images', datatype='eeg', root=root)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # mne-bids' notes on copying a BrainVision file
        mne_bids.write_raw_bids(mne_bids.read_raw_bids(first, verbose=False), first.copy().update(run='02'),
                                overwrite=False, verbose=False)
    shutil.copyfile(_events_tsv(copy), root / 'sub-01' / 'eeg' / 'sub-01_task-images_run-02_events.tsv')
    once = bids.read(load_card(written[1])).recording('sub-01', 'test')
    twice = bids.read(load_card(copy)).recording('sub-01', 'test')
    assert twice.repetitions == 2 * once.repetitions == 6
    np.testing.assert_array_equal(twice.values, np.concatenate([once.values, once.values], axis=1))


def test_rows_without_an_image_are_not_epochs(copy):
    rows = _rows(_events_tsv(copy))
    assert rows[0]['trial_type'] == 'rest' and rows[0]['stim_file'] == 'n/a'  # the writer's non-image event
    image = rows[1]['stim_file']
    assert rows[2]['stim_file'] == image  # the image's two training trials
    rows[1]['stim_file'] = ''  # an empty image: skipped as n/a is
    _write_rows(_events_tsv(copy), rows)
    trials = bids.read(load_card(copy)).read('sub-01').trials
    assert len(trials[image]) == 1
    assert sorted(len(t) for t in trials.values()) == [1, 2, 2, 2, 2, 2, 3, 3, 3]


def test_read_raw_bids_does_not_keep_an_image_column_as_written(copy):
    """Why events.tsv is read directly: mne-bids' annotations lose the column (MNE < 1.10) or turn
    names that look like numbers into numbers (later MNE)."""
    import mne_bids
    path = _events_tsv(copy)
    rows = _rows(path)
    for number, row in enumerate(rows):
        row['code'] = f'{number:04d}'
    _write_rows(path, rows)
    raw = mne_bids.read_raw_bids(mne_bids.BIDSPath(subject='01', task='images', datatype='eeg',
                                                   root=copy.parent / 'bids'), verbose=False)
    extras = getattr(raw.annotations, 'extras', None) or []
    assert [extra.get('code') for extra in extras] != [row['code'] for row in rows]
    assert [image for _, image in bids.read_events_tsv(path, 'code')] == [row['code'] for row in rows]


def test_not_a_bids_root(copy):
    shutil.rmtree(copy.parent / 'bids')
    (copy.parent / 'bids').mkdir()
    assert 'no sub-<label> folders; expected a BIDS root' in _error(copy)


def test_a_subject_without_a_recording(copy):
    for file in (copy.parent / 'bids' / 'sub-02' / 'eeg').glob('*_eeg.*'):
        file.unlink()
    assert _error(copy).endswith('sub-02: no EEG recording (eeg/*_eeg.* with an extension mne-bids reads)')
    _edit_card(copy, 'modality = "EEG"', 'modality = "MEG"')
    assert 'sub-01: no MEG recording' in _error(copy)


def test_events_tsv_missing_or_without_its_columns(copy):
    path = _events_tsv(copy, '02')
    rows = _rows(path)
    path.unlink()
    assert _error(copy).startswith(f'{path}: missing; a BIDS recording needs its events.tsv')
    _write_rows(path, [{('start' if k == 'onset' else k): v for k, v in row.items()} for row in rows])
    assert _error(copy) == f'{path}: no `onset` column; it has start, duration, trial_type, value, sample, stim_file'
    _write_rows(path, rows)
    _edit_card(copy, 'image_column = "stim_file"', 'image_column = "image"')
    assert _error(copy).endswith('_events.tsv: no `image` column; it has onset, duration, trial_type, value, sample, '
                                 'stim_file')


def test_an_image_missing_from_the_images_folder(copy):
    missing = next((copy.parent / 'stimuli' / 'test_images').rglob('*.jpg'))
    missing.unlink()
    assert _error(copy) == (f'{copy}: 1 of 9 images the data name are not in {copy.parent / "stimuli"}, e.g. '
                            f'{missing.relative_to(copy.parent / "stimuli").as_posix()}')


def _rewrite_sub02(card, channels, sfreq):
    """sub-02's recording written again by mne-bids with other ``channels`` or ``sfreq`` (its events.tsv kept)."""
    import mne
    from mne_bids import BIDSPath, write_raw_bids
    events = _events_tsv(card, '02').read_text()
    raw = mne.io.RawArray(np.zeros((len(channels), 4000)), mne.create_info(list(channels), sfreq, 'eeg'), verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')  # "No events found or provided": the events.tsv is put back below
        write_raw_bids(raw, BIDSPath(subject='02', task='images', datatype='eeg', root=card.parent / 'bids'),
                       format='BrainVision', allow_preload=True, overwrite=True, verbose=False)
    _events_tsv(card, '02').write_text(events)


def test_subjects_with_other_channels_rates_or_images(copy):
    _rewrite_sub02(copy, things_eeg2.CHANNELS[:-1], 100.0)
    assert _error(copy).endswith('sub-02_task-images_eeg.vhdr: channels differ from those of '
                                 f'{copy.parent / "bids/sub-01/eeg/sub-01_task-images_eeg.vhdr"} (16 against 17; '
                                 'e.g. P2); every recording needs the same channels')
    _rewrite_sub02(copy, things_eeg2.CHANNELS, 200.0)
    assert 'sub-02_task-images_eeg.vhdr: sampled at 200 Hz,' in _error(copy)
    _rewrite_sub02(copy, things_eeg2.CHANNELS, 100.0)
    rows = _rows(_events_tsv(copy, '02'))
    gone = rows[-1]['stim_file']
    _write_rows(_events_tsv(copy, '02'), [dict(row, stim_file='n/a' if row['stim_file'] == gone else row['stim_file'])
                                          for row in rows])
    assert _error(copy).endswith(f'sub-02 was shown 8 images, sub-01 9; 1 differ, e.g. {gone}')


def test_an_epoch_window_beyond_the_recording_for_every_event(copy):
    _edit_card(copy, 'tmin = -0.2', 'tmin = -100.0')
    message = _error(copy)
    assert 'sub-01_task-images_eeg.vhdr: the epoch window [-100.0, 0.79] s around every one of its 21 image onsets ' \
           'reaches beyond the recording (31.99 s)' in message


def test_a_damaged_recording(written, copy):
    eeg = copy.parent / 'bids' / 'sub-01' / 'eeg' / 'sub-01_task-images_eeg.vhdr'
    eeg.write_text('not a BrainVision header\n')
    assert _error(copy).startswith(f'{eeg}: unreadable by mne-bids (')
    eeg.with_suffix('.eeg').write_bytes(b'')  # the samples gone, the header as written
    shutil.copyfile(written[1].parent / 'bids' / 'sub-01' / 'eeg' / eeg.name, eeg)
    assert _error(copy).startswith(f'{eeg}: ')
