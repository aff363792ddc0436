"""THINGS-EEG2 (Gifford et al. 2022) as Brain-Score assemblies.

Two sources give one form: the authors' OSF folder (``preprocessed_data/sub-XX/*.npy`` dicts and
``image_set/``) and Brain-Score's hosted ``Gifford2022_train`` / ``Gifford2022_test`` assemblies.
The result is a ``NeuroidAssembly`` ``presentation × neuroid × time_bin`` with coords
``stimulus_id``, ``image_path``, ``concept``, ``repetition`` (presentation), ``subject``, ``channel``
(neuroid), ``time_bin_start`` / ``time_bin_end`` in seconds (time_bin). See docs/weights.md#things-eeg2.
"""
import sys
from pathlib import Path

import numpy as np

from ..errors import RealnetError, first_line, printable
from ..files import inside, read_npy
from . import check_float32
from .dataset import DataSet, Trials

CHANNELS = ('Pz', 'P3', 'P7', 'O1', 'Oz', 'O2', 'P4', 'P8', 'P1', 'P5', 'PO7', 'PO3', 'POz', 'PO4',
            'PO8', 'P6', 'P2')
SUBJECTS = range(1, 11)
NAME = 'Gifford2022'   # the data set's name in Brain-Score: its benchmarks are Gifford2022.<region>-temporal_rsa
VISUAL_DEGREES = 7     # "a visual angle of 7°" (Gifford et al. 2022): the images' size on the screen
# split -> (EEG file name, image folder, metadata key prefix)
SPLITS = {'training': ('preprocessed_eeg_training.npy', 'training_images', 'train'),
          'test': ('preprocessed_eeg_test.npy', 'test_images', 'test')}


def subject_name(subject: int) -> str:
    if subject not in SUBJECTS:
        raise RealnetError(f'unknown THINGS-EEG2 subject {subject}: subjects are 1 to 10')
    return f'sub-{subject:02d}'


def image_paths(root, split: str) -> list[Path]:
    """Image files of a split in condition order (condition i of the EEG arrays is image i)."""
    root = Path(root)
    image_set = root / 'image_set'
    metadata_file = next((p for p in (image_set / 'image_metadata.npy', root / 'image_metadata.npy')
                          if p.is_file()), None)
    if metadata_file is None:
        raise RealnetError(f'{image_set / "image_metadata.npy"}: missing; expected the THINGS-EEG2 '
                           f'image_set folder (with image_metadata.npy) under {root}')
    metadata = _load_dict(metadata_file)
    _, folder, prefix = SPLITS[split]
    try:
        concepts, files = metadata[f'{prefix}_img_concepts'], metadata[f'{prefix}_img_files']
    except KeyError as missing:
        raise RealnetError(f'{metadata_file}: no {missing.args[0]!r} entry') from missing
    concepts = _names(concepts, f'{metadata_file}: {prefix}_img_concepts', 'image concepts')
    files = _names(files, f'{metadata_file}: {prefix}_img_files', 'image file names')
    if len(concepts) != len(files):
        raise RealnetError(f'{metadata_file}: {len(concepts)} {prefix} concepts but {len(files)} files')
    paths = [image_set / folder / concept / file for concept, file in zip(concepts, files)]
    for path in paths:  # names from the metadata file: none may lead out of the data folder
        inside(root, path, 'image')
    missing = [path for path in paths if not path.is_file()]
    if missing:
        raise RealnetError(f'{len(missing)} of {len(paths)} {split} images are missing, e.g. {missing[0]}')
    return paths


def load_subject(root, subject: int, split: str, average_repetitions: bool = False):
    """One subject's preprocessed EEG of ``split`` ('training' or 'test') from the OSF layout."""
    data, paths, channels, times = _release_arrays(root, subject, split)
    return _assembly(data, paths, subject_name(subject), channels, times, average_repetitions)


def _release_arrays(root, subject: int, split: str):
    """(images × repetitions × channels × times float32, image paths, channels, times) of one
    subject's OSF file, every part checked."""
    if split not in SPLITS:
        raise RealnetError(f"unknown split '{split}': choose training or test")
    name = subject_name(subject)
    if not Path(root).is_dir():
        raise RealnetError(f'{root}: no such folder (expected a THINGS-EEG2 release: preprocessed_data/, image_set/)')
    file = Path(root) / 'preprocessed_data' / name / SPLITS[split][0]
    if not file.is_file():
        raise RealnetError(f'{file}: missing; expected THINGS-EEG2 preprocessed data for {name}')
    content = _load_dict(file)
    try:
        data, channels, times = content['preprocessed_eeg_data'], content['ch_names'], content['times']
    except KeyError as missing:
        raise RealnetError(f'{file}: no {missing.args[0]!r} entry') from missing
    data, times = _numbers(data, f"{file}: 'preprocessed_eeg_data'"), _numbers(times, f"{file}: 'times'").astype(float)
    channels = _names(channels, f"{file}: 'ch_names'")
    if data.ndim != 4 or data.shape[2:] != (len(channels), len(times)):
        raise RealnetError(f'{file}: preprocessed_eeg_data has shape {data.shape}; expected '
                           f'(conditions, repetitions, {len(channels)} channels, {len(times)} times)')
    if not np.isfinite(data).all():
        raise RealnetError(f'{file}: {int((~np.isfinite(data)).sum())} values are NaN or infinite')
    paths = image_paths(root, split)
    if len(paths) != data.shape[0]:
        raise RealnetError(f'{file}: {data.shape[0]} EEG conditions but {len(paths)} {split} images')
    warn_unless_posterior(channels, file)
    return check_float32(data, f"{file}: 'preprocessed_eeg_data'"), paths, channels, times


def dataset(root=None, test_only: bool = False, subjects=None) -> DataSet:
    """THINGS-EEG2 as the data set the package reads (data/dataset.py), named Gifford2022 as
    Brain-Score names it: the OSF release at ``root`` (its subjects with test EEG, or ``subjects``),
    else Brain-Score's hosted copy (test images only). ``test_only``: the 200 test images alone, what
    a benchmark reads (the training images need not be there)."""
    if root is None:
        return _hosted_dataset(tuple(subjects or SUBJECTS))
    if not Path(root).is_dir():
        raise RealnetError(f'{root}: no such folder (expected a THINGS-EEG2 release)')
    splits = ('test',) if test_only else tuple(SPLITS)
    paths = {split: image_paths(root, split) for split in splits}
    ids = {split: _stimulus_ids(paths[split], split) for split in splits}

    def read(label: str, split: str | None = None) -> Trials:
        data, _, channels, times = _release_arrays(root, int(label[4:]), split or 'test')
        return Trials(label, dict(zip(ids[split or 'test'], data)), tuple(channels), np.round(times, 4))

    every_id = [i for split in splits for i in ids[split]]
    if len(set(every_id)) < len(every_id):
        raise RealnetError(f'{root}: training and test images share stimulus ids, e.g. {_first_duplicate(every_id)}')
    return DataSet(name=NAME, modality='EEG', visual_degrees=VISUAL_DEGREES,
                   subjects=tuple(subject_name(s) for s in (subjects or available_subjects(root, splits))),
                   stimulus_ids=tuple(every_id), image_paths=tuple(p for split in splits for p in paths[split]),
                   test_images=None if test_only else frozenset(ids['test']), read=read, source=str(root))


def _hosted_dataset(subjects: tuple) -> DataSet:
    """Brain-Score's hosted Gifford2022_test as a data set of test images; the first subject's
    assembly gives the stimulus table (and is not read twice)."""
    first, paths = _assembly_trials(subject_name(subjects[0]), load_hosted(subjects[0], 'test'))

    def read(label: str, split: str | None = None) -> Trials:
        return first if label == first.subject else _assembly_trials(label, load_hosted(int(label[4:]), 'test'))[0]

    return DataSet(name=NAME, modality='EEG', visual_degrees=VISUAL_DEGREES,
                   subjects=tuple(subject_name(s) for s in subjects), stimulus_ids=tuple(first.trials),
                   image_paths=tuple(map(Path, paths)), test_images=None, read=read,
                   source="Brain-Score's Gifford2022_test")


def _assembly_trials(label: str, assembly) -> tuple[Trials, list]:
    """(Trials, image paths) of one subject's assembly (load_hosted's)."""
    ids, paths, times, data = trials(assembly)
    channels = tuple(str(c) for c in assembly['channel'].values)
    return Trials(label, dict(zip(ids, data)), channels, np.asarray(times, dtype=float)), paths


def _stimulus_ids(paths: list[Path], split: str) -> list[str]:
    """Each image's stimulus id, its file name without suffix (as Brain-Score's Gifford2022 names them)."""
    ids = [path.stem for path in paths]
    if len(set(ids)) != len(ids):
        raise RealnetError(f'{split} images: duplicate stimulus ids, e.g. {_first_duplicate(ids)}')
    return ids


def from_gifford2022(assembly, subject: int, average_repetitions: bool = False):
    """Brain-Score's ``Gifford2022_train``/``_test`` assembly (all subjects) -> one subject, our form."""
    name = subject_name(subject)
    subjects = set(assembly['subject'].values)
    if name not in subjects:
        raise RealnetError(f'{name} is not in the assembly (it holds {", ".join(sorted(map(str, subjects)))})')
    one = assembly.isel(neuroid=np.flatnonzero(assembly['subject'].values == name))
    one = one.transpose('presentation', 'neuroid', 'time_bin')
    stimulus_ids = one['stimulus_id'].values
    repetitions = one['repetition'].values
    order = np.lexsort((repetitions, _first_appearance(stimulus_ids)))
    stimulus_ids, repetitions = stimulus_ids[order], repetitions[order]
    images = list(dict.fromkeys(stimulus_ids))
    n_repetitions = len(repetitions) // len(images)
    if n_repetitions * len(images) != len(repetitions):
        raise RealnetError(f'{name}: the stimuli do not all have the same number of repetitions')
    data = _numbers(one.values[order], f"the assembly's EEG of {name}").reshape(len(images), n_repetitions, *one.shape[1:])
    if not np.isfinite(data).all():
        raise RealnetError(f'{name}: {int((~np.isfinite(data)).sum())} values are NaN or infinite')
    stimulus_set = assembly.attrs.get('stimulus_set')
    paths = [Path(str(stimulus_set.get_stimulus(i))) if stimulus_set is not None else Path(str(i)) for i in images]
    channels = [str(c) for c in one['channel'].values]
    warn_unless_posterior(channels, f'the assembly of {name}')
    return _assembly(check_float32(data, f"the assembly's EEG of {name}"), paths, name, channels,
                     one['time_bin_start'].values.astype(float), average_repetitions, stimulus_ids=images)


def available_subjects(root, splits=('test',)) -> list[int]:
    """Subjects with EEG of any of ``splits`` in the OSF folder ``root``."""
    folder = Path(root) / 'preprocessed_data'
    return [s for s in SUBJECTS if any((folder / subject_name(s) / SPLITS[split][0]).is_file() for split in splits)]


def trials(assembly):
    """(stimulus ids, image paths, times, images × repetitions × channels × times array) of an assembly
    that is image-major with equal repetitions, as load_subject and from_gifford2022 return it."""
    stimulus_ids = list(dict.fromkeys(assembly['stimulus_id'].values))
    data = assembly.transpose('presentation', 'neuroid', 'time_bin').values
    n_repetitions = len(data) // len(stimulus_ids)
    paths = list(assembly['image_path'].values[::n_repetitions])
    return stimulus_ids, paths, assembly['time_bin_start'].values, data.reshape(
        len(stimulus_ids), n_repetitions, *data.shape[1:])


def standardise(trials: np.ndarray) -> np.ndarray:
    """The one form of a subject's EEG, whatever its source: each channel × time point z-scored across
    images and trials (``trials``: images × trials × channels × times; population SD).

    Brain-Score packages ``Gifford2022_*`` this way (brain-score/vision,
    ``data/gifford2022/data_packaging/package_gifford2022.py``) and the packaged values cannot be
    turned back into the raw OSF ones; so the OSF files are brought to the same form, and for the
    hosted data this is a no-op up to rounding."""
    trials = np.asarray(trials, dtype=np.float64)
    spread = trials.std(axis=(0, 1))
    if not np.all(spread > 0):
        raise RealnetError('some channel and time point has the same EEG value in every trial: it cannot be standardised')
    return (trials - trials.mean(axis=(0, 1))) / spread


# The forms in which the EEG reaches the RDMs (the benchmark's `eeg_form`), with what each is.
EEG_FORMS = {'standardised': "each channel × time point z-scored across images and trials (Brain-Score's hosted "
                             'copy is in this form only; the OSF files are brought to it)',
             'raw': 'the OSF arrays as released, as the authors decoded them (after multivariate noise normalisation)'}
# The default keeps the published scores: OSF files and the hosted copy then give the same RDMs.
EEG_FORM = 'standardised'
RAW_HOSTED = ("`eeg_form` raw needs the OSF release (`things_eeg2` DIR or $REALNET_THINGS_EEG2): Brain-Score's "
              'hosted Gifford2022 is standardised per channel × time point and cannot be un-standardised')
HOSTED_PAPER = ("note: Brain-Score's hosted Gifford2022 is standardised per channel × time point (it cannot be "
                'un-standardised), so the EEG RDMs decode standardised EEG, not the raw OSF arrays the authors '
                'decoded; a linear SVM with C = 1 is not scale-invariant, so decoding accuracies differ from the '
                "authors'; give `things_eeg2` DIR (the OSF release) to decode the raw form")


def check_eeg_form(form, hosted: bool = False) -> str:
    """``form`` if it is one of EEG_FORMS that the source can give: the hosted copy (``hosted``) is
    standardised only, so `raw` is refused with it in one line."""
    if form not in EEG_FORMS:
        raise RealnetError(f"unknown `eeg_form` {printable(repr(form))[:40]}: choose {' or '.join(EEG_FORMS)}")
    if form == 'raw' and hosted:
        raise RealnetError(RAW_HOSTED)
    return form


def in_form(trials: np.ndarray, form: str = EEG_FORM) -> np.ndarray:
    """A subject's trials (images × trials × channels × times) in ``form`` (EEG_FORMS), as float64:
    the one place where the form is applied before any RDM."""
    if check_eeg_form(form) == 'standardised':
        return standardise(trials)
    return np.asarray(trials, dtype=np.float64)


def load_hosted(subject: int, split: str, average_repetitions: bool = False):
    """One subject from Brain-Score's hosted ``Gifford2022_train``/``_test`` (fetched by brainscore_vision)."""
    import brainscore_vision
    identifier = {'training': 'Gifford2022_train', 'test': 'Gifford2022_test'}.get(split)
    if identifier is None:
        raise RealnetError(f"unknown split '{split}': choose training or test")
    try:
        assembly = brainscore_vision.load_dataset(identifier)
    except Exception as error:  # offline, no credentials, ...
        raise RealnetError(f'Brain-Score data {identifier} could not be loaded ({first_line(error)}); point '
                           f'`things_eeg2` at a local copy of the OSF release instead') from error
    return from_gifford2022(assembly, subject, average_repetitions)


_WARNED = set()  # channel differences already reported: one line per process, not one per subject


def warn_unless_posterior(channels: list, source) -> None:
    """One line on stderr when ``channels`` are not THINGS-EEG2's 17 posterior channels: such EEG
    (e.g. frontal Fp1, Cz) is used as it is, but its scores do not measure what the paper's do."""
    foreign = tuple(c for c in channels if c not in CHANNELS)
    absent = tuple(c for c in CHANNELS if c not in channels)
    if (foreign or absent) and (foreign, absent) not in _WARNED:
        _WARNED.add((foreign, absent))
        differences = ([f'others: {", ".join(map(str, foreign))}'] if foreign else []) + (
            [f'missing: {", ".join(absent)}'] if absent else [])
        # channel names come from the data file: shown escaped, never acted on by the terminal
        print(printable(f"warning: {source}: EEG channels differ from THINGS-EEG2's 17 posterior channels "
                        f"({'; '.join(differences)}); used as they are, the scores do not measure what "
                        "the paper's do"), file=sys.stderr, flush=True)


def _numbers(values, what: str) -> np.ndarray:
    """``values`` as a numeric array, or one line saying what ``what`` holds instead (text, objects)."""
    try:
        array = np.asarray(values)
    except ValueError as error:  # ragged lists
        raise RealnetError(f'{what} is not an array of numbers') from error
    if array.dtype.kind not in 'fiu':
        raise RealnetError(f'{what} holds {_KINDS.get(array.dtype.kind, array.dtype)} (dtype {array.dtype}); '
                           f'expected numbers')
    return array


_KINDS = {'U': 'text', 'S': 'byte strings', 'O': 'Python objects', 'b': 'booleans', 'c': 'complex numbers'}


def _names(values, what: str, noun: str = 'channel names') -> list[str]:
    """A list or numpy array of names as strings."""
    names = np.asarray(values, dtype=object) if isinstance(values, (list, tuple, np.ndarray)) else None
    if names is None or names.ndim != 1:
        raise RealnetError(f'{what} is not a list of {noun}')
    return [name.decode(errors='replace') if isinstance(name, bytes) else str(name) for name in names]


def _first_appearance(values):
    first = {value: index for index, value in reversed(list(enumerate(values)))}
    return np.array([first[value] for value in values])


def _assembly(data, paths, subject, channels, times, average_repetitions, stimulus_ids=None):
    from brainscore_core.supported_data_standards.brainio.assemblies import NeuroidAssembly
    n_images, n_repetitions = data.shape[:2]
    if average_repetitions:
        data, n_repetitions, repetition = data.mean(axis=1, keepdims=True), 1, np.full(n_images, -1)
    else:
        repetition = np.tile(np.arange(n_repetitions), n_images)
    stimulus_ids = stimulus_ids or [path.stem for path in paths]
    if len(set(stimulus_ids)) != len(stimulus_ids):
        raise RealnetError(f'{subject}: duplicate stimulus ids, e.g. {_first_duplicate(stimulus_ids)}')
    step = float(np.median(np.diff(times))) if len(times) > 1 else 0.01
    return NeuroidAssembly(
        data.reshape(n_images * n_repetitions, *data.shape[2:]),
        dims=['presentation', 'neuroid', 'time_bin'],
        coords={
            'stimulus_id': ('presentation', np.repeat(stimulus_ids, n_repetitions)),
            'image_path': ('presentation', np.repeat([str(p) for p in paths], n_repetitions)),
            'concept': ('presentation', np.repeat([p.parent.name for p in paths], n_repetitions)),
            'repetition': ('presentation', repetition),
            'subject': ('neuroid', [subject] * len(channels)),
            'channel': ('neuroid', list(channels)),
            'time_bin_start': ('time_bin', np.round(times, 4)),
            'time_bin_end': ('time_bin', np.round(times + step, 4)),
        })


def _first_duplicate(values):
    seen = set()
    for value in values:
        if value in seen:
            return value
        seen.add(value)


def _load_dict(path: Path) -> dict:
    """A ``np.save``d Python dict, read with a loader that admits only numpy and plain Python data."""
    try:
        content = read_npy(path)
        content = content.item() if content.dtype == object and content.shape == () else content
    except RealnetError:
        raise
    except Exception as error:
        raise RealnetError(f'{path}: unreadable ({type(error).__name__}: {error})') from error
    if not isinstance(content, dict):
        raise RealnetError(f'{path}: expected a saved dict, found {type(content).__name__}')
    return content
