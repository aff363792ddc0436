"""The MNE Epochs reader (card format ``mne-epochs``), on Epochs files written by MNE from an in-silico
THINGS-EEG2 release: the right answer is the release itself, read by the THINGS-EEG2 reader. Every bad
file is made with MNE itself."""
import shutil
from pathlib import Path

import mne
import numpy as np
import pandas as pd
import pytest

from factories import FixedFeatures, damageable_copy
from realnet_brainscore import RealnetError, load_benchmark
from realnet_brainscore.data import things_eeg2
from realnet_brainscore.data.card import load_card, open_dataset
from realnet_brainscore.synthetic import Design, write_things_eeg2
from realnet_brainscore.synthetic.mne_epochs import write_mne_epochs

TINY = Design(subjects=2, concepts=4, images_per_concept=2, test_images=4, train_repetitions=2, test_repetitions=4,
              image_size=32)
EPOCHS = 4 * 2 * 2 + 4 * 4  # a subject's epochs: 8 training images × 2 repetitions, 4 test images × 4


@pytest.fixture(scope='module')
def written(tmp_path_factory):
    root = tmp_path_factory.mktemp('epochs')
    release = write_things_eeg2(root / 'release', TINY)
    return release, write_mne_epochs(release, root / 'insilico')


@pytest.fixture
def copy(written, tmp_path):
    return damageable_copy(written[1], tmp_path)


def _file(card, subject='02') -> Path:
    return card.parent / 'epochs' / f'sub-{subject}-epo.fif'


def _epochs(card, subject='02'):
    return mne.read_epochs(_file(card, subject), verbose=False)


def _save(epochs, card, subject='02'):
    epochs.save(_file(card, subject), overwrite=True, verbose=False)


def _remade(epochs, data=None, info=None, metadata=None):
    """``epochs`` made again by EpochsArray with other samples, info or metadata."""
    return mne.EpochsArray(epochs.get_data() if data is None else data, epochs.info if info is None else info,
                           epochs.events, tmin=epochs.tmin, event_id=epochs.event_id,
                           metadata=epochs.metadata if metadata is None else metadata, verbose=False)


def _edit_card(card, old, new):
    text = card.read_text()
    assert old in text
    card.write_text(text.replace(old, new))


def _error(card) -> str:
    with pytest.raises(RealnetError) as error:
        data = open_dataset(load_card(card))
        for subject in data.subjects:
            data.recording(subject, 'test')
    message = str(error.value)
    assert '\n' not in message
    return message


def _names(release, paths):
    return [Path(p).relative_to(release / 'image_set').as_posix() for p in paths]


def test_every_subject_and_split_gives_back_the_release(written):
    release, card = written
    data = open_dataset(load_card(card))
    assert (data.name, data.modality, data.visual_degrees, data.source) == ('InSilicoEpochs', 'EEG', 7.0, str(card))
    assert data.subjects == ('sub-01', 'sub-02')
    training, test = (_names(release, things_eeg2.image_paths(release, split)) for split in ('training', 'test'))
    assert data.stimulus_ids == tuple(training + test)  # as sub-01's epochs first show them
    assert data.test_images == frozenset(test) and data.split_ids('training') == tuple(training)
    for subject in (1, 2):
        for split in ('training', 'test'):
            _, paths, times, values = things_eeg2.trials(things_eeg2.load_subject(release, subject, split))
            recording = data.recording(f'sub-{subject:02d}', split)
            assert recording.stimulus_ids == tuple(_names(release, paths))
            # saved as single precision, calibration 1: the release's float32 values exactly
            assert recording.values.dtype == np.float32
            np.testing.assert_array_equal(recording.values, values)
            np.testing.assert_allclose(recording.times, times, rtol=0, atol=1e-9)
            assert recording.channels == things_eeg2.CHANNELS and recording.dropped == 0
            assert all(path.read_bytes() == Path(original).read_bytes()
                       for path, original in zip(recording.image_paths, paths))


def test_the_files_are_epochs_as_mne_reads_them(written):
    epochs = _epochs(written[1], '01')
    assert len(epochs) == EPOCHS and epochs.info['sfreq'] == 100.0 and epochs.tmin == pytest.approx(-0.2)
    assert set(epochs.get_channel_types()) == {'eeg'} and list(epochs.metadata.columns) == ['image_file']
    assert epochs.event_id == {'training': 1, 'test': 2} and list(epochs.events[:, 2]) == [1] * 16 + [2] * 16


def test_card_channels_pick_and_order_them(written, copy):
    _edit_card(copy, 'visual_degrees', 'channels = ["Oz", "Pz"]\nvisual_degrees')
    recording = open_dataset(load_card(copy)).recording('sub-02', 'test')
    whole = open_dataset(load_card(written[1])).recording('sub-02', 'test')
    assert recording.channels == ('Oz', 'Pz')
    np.testing.assert_array_equal(recording.values, whole.values[:, :, [4, 0]])


def test_bad_channels_and_unapplied_projectors_leave_the_values_as_stored(written, copy):
    """A bad channel is still read (every subject has the same channels); an average-reference SSP
    projector saved but not applied is not applied on reading."""
    epochs = _epochs(copy).set_eeg_reference(projection=True, verbose=False)
    epochs.info['bads'] = ['Oz']
    assert not epochs.info['projs'][0]['active']
    _save(epochs, copy)
    recording = open_dataset(load_card(copy)).recording('sub-02', 'test')
    assert recording.channels == things_eeg2.CHANNELS
    as_written = open_dataset(load_card(written[1])).recording('sub-02', 'test')
    np.testing.assert_array_equal(recording.values, as_written.values)

def test_the_modality_picks_eeg_or_meg_channels(copy):
    """Each file gains a magnetometer, a gradiometer and a reference magnetometer: EEG reads the 17 EEG
    channels, MEG the two MEG sensors (not the reference), each with the values put there."""
    extra = mne.create_info(['MEG0111', 'MEG0112', 'REF001'], 100.0, ['mag', 'grad', 'ref_meg'])
    planted = {}
    for subject in ('01', '02'):
        epochs = _epochs(copy, subject)
        planted[subject] = np.random.default_rng(int(subject)).normal(size=(len(epochs), 3, len(epochs.times)))
        _save(epochs.add_channels([mne.EpochsArray(planted[subject].astype(np.float32), extra, epochs.events,
                                                   tmin=epochs.tmin, verbose=False)], force_update_info=True),
              copy, subject)
    eeg = open_dataset(load_card(copy)).read('sub-02')
    assert eeg.channels == things_eeg2.CHANNELS
    _edit_card(copy, 'modality = "EEG"', 'modality = "MEG"')
    meg = open_dataset(load_card(copy)).read('sub-02')
    assert meg.channels == ('MEG0111', 'MEG0112')
    first_image = next(iter(meg.trials))
    np.testing.assert_array_equal(meg.trials[first_image], planted['02'][:2, :2].astype(np.float32))
    # a MEG data set's temporal RSA: its score records say MEG
    test = open_dataset(load_card(copy)).recording('sub-01', 'test')
    model = FixedFeatures(dict(zip(test.stimulus_ids, test.averaged().reshape(len(test.stimulus_ids), -1))))
    score = load_benchmark('InSilicoEpochs.IT-temporal_rsa', data=str(copy), method='correlation', bootstrap=0,
                           screen='whole', window=(-0.2, 0.8))(model)
    assert score.attrs['modality'] == 'MEG' and np.isfinite(float(score.attrs['raw']))


def test_epochs_of_no_image_are_skipped(copy):
    epochs = _epochs(copy, '01')
    names = epochs.metadata['image_file'].tolist()
    assert names[0] == names[1] and names[2] == names[3] != names[0]  # two images, two epochs each
    metadata = pd.DataFrame({'image_file': [None, names[1], 'n/a'] + names[3:]})  # the first epoch of each
    _save(_remade(epochs, metadata=metadata), copy, '01')
    trials = open_dataset(load_card(copy)).read('sub-01').trials
    np.testing.assert_array_equal(trials[names[0]], epochs.get_data()[[1]].astype(np.float32))
    np.testing.assert_array_equal(trials[names[2]], epochs.get_data()[[3]].astype(np.float32))
    assert len(trials) == 12 and sorted(len(t) for t in trials.values()) == [1, 1] + [2] * 6 + [4] * 4


def test_a_file_in_parts_is_read_through_its_first_part(copy):
    """Epochs too large for one file: MNE writes split-01, split-02 (BIDS naming); read once, whole."""
    epochs = _epochs(copy, '01')
    many = mne.concatenate_epochs([epochs] * 12, verbose=False)  # about 2.6 MB of samples
    _file(copy, '01').unlink()
    many.save(copy.parent / 'epochs' / 'sub-01_epo.fif', split_size='2MB', split_naming='bids', verbose=False)
    parts = sorted(p.name for p in (copy.parent / 'epochs').glob('sub-01_*'))
    assert len(parts) >= 2 and parts == [f'sub-01_split-{n:02d}_epo.fif' for n in range(1, len(parts) + 1)]
    data = open_dataset(load_card(copy))
    assert data.subjects == ('sub-01', 'sub-02')
    assert data.recording('sub-01', 'test').repetitions == 12 * 4


def test_unequal_repetitions_keep_the_fewest(written, copy):
    """sub-01 sees one training image a third time: every image keeps 2, the extra trial is counted."""
    release = written[0]
    epochs = _epochs(copy, '01')
    data, names = epochs.get_data(), epochs.metadata['image_file'].tolist()
    extra = names.index(names[5])  # the third training image's first epoch, again, last
    events = np.vstack([epochs.events, [[epochs.events[-1, 0] + 100, 0, 1]]])
    _save(mne.EpochsArray(np.concatenate([data, data[[extra]] + 1.0]), epochs.info, events, tmin=epochs.tmin,
                          event_id=epochs.event_id, metadata=pd.DataFrame({'image_file': names + [names[5]]}),
                          verbose=False), copy, '01')
    dataset = open_dataset(load_card(copy))
    assert len(dataset.read('sub-01').trials[names[5]]) == 3
    recording = dataset.recording('sub-01', 'training')
    assert recording.repetitions == 2 and recording.dropped == 1
    np.testing.assert_array_equal(recording.values, things_eeg2.trials(things_eeg2.load_subject(release, 1,
                                                                                                'training'))[3])
    assert dataset.recording('sub-01', 'test').dropped == 0


def test_a_card_without_an_image_column(copy):
    _edit_card(copy, 'image_column = "image_file"\n', '')
    assert _error(copy) == (f'{copy}: format mne-epochs needs "image_column", the Epochs metadata column naming '
                            'each epoch\'s image, or "event_images", a table of event -> image')


def _by_events(card, catch: bool = False) -> list:
    """Every subject's file made again without metadata, each image its own event (named img<K>, code
    K + 1); the card maps events to images by a table naming the even K by name and the odd by code.
    With ``catch``, sub-01's first epoch gets an event the table leaves out. Returns the image names."""
    names = _epochs(card, '01').metadata['image_file'].tolist()
    images = list(dict.fromkeys(names))
    for subject in ('01', '02'):
        epochs = _epochs(card, subject)
        codes = np.array([images.index(name) + 1 for name in epochs.metadata['image_file']])
        if catch and subject == '01':
            codes[0] = 999
        events = np.column_stack([epochs.events[:, 0], epochs.events[:, 1], codes])
        event_id = {f'img{k}': k + 1 for k in range(len(images))} | ({'catch': 999} if catch and subject == '01' else {})
        _save(mne.EpochsArray(epochs.get_data(), epochs.info, events, tmin=epochs.tmin, event_id=event_id,
                              verbose=False), card, subject)
    rows = [f'img{k}\t{image}' if k % 2 == 0 else f'{k + 1}\t{image}' for k, image in enumerate(images)]
    (card.parent / 'events.tsv').write_text('event\timage\n' + '\n'.join(rows) + '\n')
    _edit_card(card, 'image_column = "image_file"\n', 'event_images = "events.tsv"\n')
    return names


def test_an_event_to_image_table_maps_epochs_by_event_name_or_code(written, copy):
    expected = open_dataset(load_card(written[1]))
    _by_events(copy)
    found = open_dataset(load_card(copy))
    assert found.stimulus_ids == expected.stimulus_ids and found.test_images == expected.test_images
    for subject in ('sub-01', 'sub-02'):
        for split in ('training', 'test'):
            np.testing.assert_array_equal(found.recording(subject, split).values,
                                          expected.recording(subject, split).values)


def test_epochs_whose_event_the_table_leaves_out_are_skipped(copy):
    names = _by_events(copy, catch=True)
    trials = open_dataset(load_card(copy)).read('sub-01').trials
    assert len(trials[names[0]]) == names.count(names[0]) - 1 and len(trials[names[2]]) == names.count(names[2])


def test_a_bad_event_table(copy):
    _by_events(copy)
    table = copy.parent / 'events.tsv'
    rows = table.read_text().splitlines()
    table.write_text('\n'.join(rows + [rows[1].split('\t')[0] + '\tother.jpg']) + '\n')
    assert _error(copy) == f"{table}: event 'img0' names two images"
    table.write_text('code\timage\n1\ta.jpg\n')
    assert _error(copy) == f"{table}: no column 'event' (its columns: code, image)"
    table.write_text('event\timage\nnone\ta.jpg\n')
    assert _error(copy).startswith(f"{_file(copy, '01')}: no epoch's event is in the event -> image table")
    _edit_card(copy, 'event_images = "events.tsv"\n', 'event_images = "events.tsv"\nimage_column = "image_file"\n')
    assert _error(copy) == (f'{copy}: "event_images" is for format mne-epochs without "image_column" (each '
                            "epoch's image comes from one of the two)")


def test_no_epochs_files(copy):
    for file in (copy.parent / 'epochs').iterdir():
        file.unlink()
    assert _error(copy) == f'{copy.parent / "epochs"}: no Epochs files (sub-<label>-epo.fif or sub-<label>_epo.fif)'
    shutil.rmtree(copy.parent / 'epochs')
    assert _error(copy).startswith(f'{copy.parent / "epochs"}: no such folder;')


def test_files_not_one_per_named_subject(copy):
    shutil.copyfile(_file(copy), copy.parent / 'epochs' / 'sub-02_epo.fif')
    assert _error(copy) == (f'{copy.parent / "epochs" / "sub-02_epo.fif"}: a second Epochs file of sub-02 (besides '
                            'sub-02-epo.fif); keep one file per subject')
    (copy.parent / 'epochs' / 'sub-02_epo.fif').rename(copy.parent / 'epochs' / 'all-epo.fif')
    assert _error(copy).startswith(f'{copy.parent / "epochs" / "all-epo.fif"}: an Epochs file not named '
                                   'sub-<label>-epo.fif;')


def test_metadata_missing_or_without_the_column(copy):
    epochs = _epochs(copy)
    names = epochs.metadata['image_file'].tolist()
    without = epochs.copy()
    without.metadata = None
    _save(without, copy)
    assert _error(copy) == (f'{_file(copy)}: its Epochs have no metadata; expected a metadata column "image_file" '
                            "naming each epoch's image")
    _save(_remade(epochs, metadata=pd.DataFrame({'image': names, 'condition': 1})), copy)
    assert _error(copy) == f'{_file(copy)}: its Epochs metadata has no column "image_file"; it has image, condition'
    _save(_remade(epochs, metadata=pd.DataFrame({'image_file': range(len(names))})), copy)
    assert _error(copy) == (f'{_file(copy)}: epoch 0 of metadata column "image_file" is 0 (int); expected an image '
                            'name')


def test_an_image_missing_from_the_images_folder(copy):
    missing = next((copy.parent / 'stimuli' / 'test_images').rglob('*.jpg'))
    missing.unlink()
    assert _error(copy) == (f'{copy}: 1 of 12 images the data name are not in {copy.parent / "stimuli"}, e.g. '
                            f'{missing.relative_to(copy.parent / "stimuli").as_posix()}')


def test_subjects_with_other_channels(copy):
    _save(_epochs(copy).rename_channels({'P2': 'Cz'}), copy)
    assert _error(copy) == (f'{_file(copy)}: channels differ from those of {_file(copy, "01")} (17 against 17; e.g. '
                            'Cz); every subject needs the same channels')


def test_subjects_with_other_rates(copy):
    epochs = _epochs(copy)
    info = mne.create_info(epochs.ch_names, 200.0, 'eeg')
    _save(_remade(epochs, info=info), copy)
    assert _error(copy) == (f'{_file(copy)}: sampled at 200 Hz, {_file(copy, "01")} at 100 Hz; every subject needs '
                            'the same rate')


def test_subjects_with_other_time_points(copy):
    _save(_epochs(copy).crop(tmin=-0.1), copy)
    assert _error(copy) == (f'{_file(copy)}: epochs of 90 time points from -0.1 s, {_file(copy, "01")} of 100 from '
                            '-0.2 s; every subject needs the same time points')


def test_subjects_shown_other_images(copy):
    epochs = _epochs(copy)
    gone = epochs.metadata['image_file'].iloc[-1]
    _save(epochs[(epochs.metadata['image_file'] != gone).to_numpy()], copy)
    assert _error(copy) == f'{_file(copy)}: sub-02 was shown 11 images, sub-01 12; 1 differ, e.g. {gone}'


def test_a_card_channel_missing(copy):
    _edit_card(copy, 'visual_degrees', 'channels = ["Oz", "Fp1", "AF3"]\nvisual_degrees')
    assert _error(copy) == f'{_file(copy, "01")}: no channel \'Fp1\' of the card "channels" (2 of 3 missing)'


def test_no_channels_of_the_modality(copy):
    _edit_card(copy, 'modality = "EEG"', 'modality = "MEG"')
    assert _error(copy) == f'{_file(copy, "01")}: no MEG channels (its channels are of type eeg)'


def test_a_damaged_file(copy):
    content = _file(copy).read_bytes()
    _file(copy).write_bytes(content[:len(content) // 2])  # the header whole, the samples cut short
    assert _error(copy).startswith(f'{_file(copy)}: its samples are unreadable by MNE (ValueError: ')
    _file(copy).write_bytes(content[:len(content) // 50])  # the header cut short
    assert _error(copy).startswith(f'{_file(copy)}: unreadable by mne.read_epochs (')
    _file(copy).write_bytes(b'not a FIF file' * 4)
    assert _error(copy).startswith(f'{_file(copy)}: unreadable by mne.read_epochs (ValueError: file ')


def test_values_that_are_not_numbers(copy):
    epochs = _epochs(copy)
    data = epochs.get_data()
    data[-1, 3, 50] = np.nan
    _save(_remade(epochs, data=data), copy)
    assert _error(copy) == f'{_file(copy)}: 1 values are NaN or infinite'

