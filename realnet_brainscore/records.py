"""Score records: a Brain-Score ``Score`` as typed data, with JSON in and out.

The JSON is what ``brainscore score --json`` writes and ``brainscore compare`` keeps in OUT/scores/:
model, benchmark, kind, area, score and the Score's attributes — raw, ceiling, for the temporal RSA
benchmarks ``time_course`` (subject × time_bin) and ``ceiling_time_course`` (bound × time_bin),
window, region, screen, rdm_method, eeg_form, matched_subject (the one subject a personal model was
compared with, ``score --matched``; absent: every subject), the bootstrap's ``interval`` and
``raw_interval`` ([low, high]), and any other Brain-Score attribute as plain JSON. Labelled
arrays are ``{"dims", "coords": {dim: labels}, "values"}``. Files written before records carried
a kind are read too: our benchmarks' kind comes from their class.
"""
import dataclasses
import enum
import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import xarray as xr

from .errors import RealnetError, first_line



class Kind(enum.StrEnum):
    """What a benchmark measures, as score records (and their JSON) name it. Ours declare it (a class
    attribute); Brain-Score's neural benchmarks record a region of the model (their parent), and
    every other of Brain-Score's measures behaviour. EEG is any temporal RSA, of EEG or MEG (its
    record's ``attrs['modality']`` says which)."""
    EEG = 'EEG'
    FMRI = 'fMRI'
    NEURAL = 'neural'
    BEHAVIOUR = 'behaviour'

    @property
    def key(self) -> str:
        """The kind in lower case, as reports name their figures' keys and statistics (``fmri_p``)."""
        return self.value.lower()

# The labelled arrays of a temporal RSA record and the dims they are read by.
TIME_COURSES = {'time_course': ('subject', 'time_bin'), 'ceiling_time_course': ('bound', 'time_bin')}
# Time points are seconds read back from JSON (0.1 may be 0.1000000000000001): a bound within this is on it.
TOLERANCE = 1e-9
_TYPED = ('raw', 'ceiling', 'time_course', 'ceiling_time_course', 'window', 'region', 'screen', 'rdm_method',
          'eeg_form', 'matched_subject', 'interval', 'raw_interval')
_PAIRS = ('window', 'interval', 'raw_interval')  # two numbers each: lists in JSON, tuples in records
_NAMES = ('model', 'benchmark', 'kind', 'area', 'region', 'screen', 'rdm_method', 'eeg_form', 'matched_subject')


def time_mask(times, start: float, stop: float, last: bool = False) -> np.ndarray:
    """Which ``times`` (s) lie from ``start`` up to ``stop``: a window, ``stop`` excluded, or with
    ``last`` a range whose ``stop`` is its last time point."""
    times = np.asarray(times, dtype=float)
    ends = times <= stop + TOLERANCE if last else times < stop - TOLERANCE
    return (times >= start - TOLERANCE) & ends


def range_mask(times, time_range, benchmark: str) -> np.ndarray:
    """Which ``times`` (s) lie in ``time_range`` (first, last time point); a RealnetError naming
    ``benchmark`` when none does."""
    keep = time_mask(times, *time_range, last=True)
    if not keep.any():
        raise RealnetError(f'{benchmark} has no time point in {time_range[0] * 1000:.0f} … '
                           f'{time_range[1] * 1000:.0f} ms')
    return keep


@dataclass(frozen=True, eq=False)
class LabelledArray:
    """Values with named dims and, per dim, its labels (None where a hand-written file gave none)."""
    values: np.ndarray
    dims: tuple
    coords: dict | None = None

    @classmethod
    def from_json(cls, data: dict) -> 'LabelledArray':
        coords = data.get('coords')
        return cls(np.asarray(data['values']), tuple(data['dims']), dict(coords) if isinstance(coords, dict) else None)

    def to_json(self) -> dict:
        data = {'dims': list(self.dims)}
        if self.coords is not None:
            data['coords'] = self.coords
        return {**data, 'values': self.values.tolist()}

    @property
    def times(self) -> np.ndarray:
        """The time points, in seconds."""
        return np.asarray(self.coords['time_bin'], dtype=float)

    @property
    def subjects(self) -> list:
        return list(self.coords['subject'])


@dataclass(frozen=True, eq=False)
class ScoreRecord:
    """One model's score on one benchmark, with what the figures and statistics read."""
    model: str
    benchmark: str
    score: float
    kind: Kind | None = None      # None: a Brain-Score benchmark's record from before kinds
    area: str | None = None       # what the benchmark's figure panel or bar is named by: the model region
    #                               of an EEG benchmark, an fMRI ROI, a neural benchmark's region
    raw: float | LabelledArray | list | None = None      # before ceiling normalisation; per subject if labelled
    ceiling: float | LabelledArray | list | None = None
    time_course: LabelledArray | None = None             # subject × time_bin Spearman ρ
    ceiling_time_course: LabelledArray | None = None     # bound (lower, upper) × time_bin
    window: tuple | None = None                          # (start, stop) s the score averages
    region: str | None = None                            # the model region a Shen 2019 benchmark read
    screen: str | None = None
    rdm_method: str | None = None
    eeg_form: str | None = None                          # the EEG the RDMs were computed from (things_eeg2.EEG_FORMS)
    matched_subject: str | None = None                   # 'sub-01': compared with that subject only
    interval: tuple | None = None       # (low, high): 95 % bootstrap interval of the score (subjects and images)
    raw_interval: tuple | None = None   # the same of ``raw`` (the mean ρ)
    attrs: dict = field(default_factory=dict)            # the Score's other attributes, as JSON values

    def __post_init__(self):
        if self.kind is not None:  # a kind given by its name ('EEG') is the Kind of that name
            object.__setattr__(self, 'kind', Kind(self.kind))

    @classmethod
    def from_score(cls, score, model: str, identifier: str, benchmark) -> 'ScoreRecord':
        """The record of ``score``, which ``benchmark`` (loaded as ``identifier``) gave ``model``."""
        kind, area = benchmark_kind(benchmark)
        data = {'model': model, 'benchmark': identifier, 'score': _plain(score)}
        for key, value in score.attrs.items():
            plain = _plain(value)
            if plain is not None and key not in data and key not in ('kind', 'area'):
                data[key] = plain
        return cls._from_plain(data, kind, area)

    @classmethod
    def from_json(cls, data) -> 'ScoreRecord':
        """The record in parsed JSON ``data``; a RealnetError saying what is wrong with it (see
        ``record_problem``) when it is not one."""
        problem = record_problem(data)
        if problem:
            raise RealnetError(problem)
        kind, area = (data['kind'], data.get('area')) if 'kind' in data else our_kind(data['benchmark'])
        return cls._from_plain(data, kind, area)

    @classmethod
    def _from_plain(cls, data: dict, kind, area) -> 'ScoreRecord':
        typed = {key: _typed(key, data[key]) for key in _TYPED if key in data}
        attrs = {key: value for key, value in data.items()
                 if key not in _TYPED and key not in ('model', 'benchmark', 'score', 'kind', 'area')}
        return cls(data['model'], data['benchmark'], float(data['score']), kind, area, **typed, attrs=attrs)

    def to_json(self) -> dict:
        data = {'model': self.model, 'benchmark': self.benchmark}
        data.update({key: str(getattr(self, key)) for key in ('kind', 'area') if getattr(self, key) is not None})
        data['score'] = self.score
        for key in _TYPED:
            value = getattr(self, key)
            if value is not None:
                data[key] = value.to_json() if isinstance(value, LabelledArray) else (
                    list(value) if key in _PAIRS else value)
        return {**data, **self.attrs}

    @property
    def times(self) -> np.ndarray:
        return self.time_course.times

    @property
    def subjects(self) -> list:
        return self.time_course.subjects

    def named(self, model: str) -> 'ScoreRecord':
        """This record under another model name (e.g. the name it was compared under)."""
        return dataclasses.replace(self, model=model)


def benchmark_kind(benchmark) -> tuple[Kind, str | None]:
    """(kind, area) of a loaded benchmark: ours declare their kind, and their region or ROI is their
    parent; Brain-Score's whose parent is a region a model records from are neural (MajajHong2015's
    IT), the others (parent 'behavior', 'Geirhos2021' …) measure behaviour."""
    kind = getattr(benchmark, 'kind', None)
    if kind is not None:
        return Kind(kind), benchmark.parent
    from brainscore_vision.model_interface import BrainModel
    regions = {getattr(BrainModel.RecordingTarget, name) for name in vars(BrainModel.RecordingTarget)
               if not name.startswith('_')}
    parent = getattr(benchmark, 'parent', None)
    return (Kind.NEURAL, parent) if parent in regions else (Kind.BEHAVIOUR, None)


@functools.lru_cache(maxsize=None)
def our_kind(identifier: str, data=None) -> tuple[Kind | None, str | None]:
    """(kind, area) of our benchmark ``identifier`` (or one the data-set card ``data`` gives), from its
    class; (None, None) for any other."""
    from . import plugin
    if identifier not in plugin.list_benchmarks(data):
        return None, None
    return benchmark_kind(plugin.load_benchmark(identifier, data=data))


def read_record(path) -> ScoreRecord:
    """The score record in the JSON file ``path`` (what ``brainscore score --benchmark B --json``
    writes), once it holds what the figures read; else one line naming the file and the fault."""
    try:
        data = json.loads(Path(path).read_bytes())
    except (OSError, ValueError, RecursionError) as error:
        raise RealnetError(f'{path}: not a readable score file ({first_line(error)})') from error
    try:
        return ScoreRecord.from_json(data)
    except RealnetError as problem:
        raise RealnetError(f'{path}: not the score of one benchmark as `score --benchmark B --json` writes it: '
                           f'{problem}') from problem


def record_problem(data) -> str | None:
    """What keeps ``data`` (parsed JSON) from being a score record the figures and statistics can
    use: a model and benchmark name, a numeric score, a known kind, settings (screen, rdm_method,
    eeg_form, window, interval, raw_interval, raw, ceiling) of the right types where present, and for an EEG benchmark both time
    courses with matching coords; None when nothing does."""
    if not isinstance(data, dict):
        return f'it holds a JSON {_json_kind(data)}, not an object with model, benchmark and score'
    missing = [key for key in ('model', 'benchmark', 'score') if key not in data]
    if missing:
        return f'it has no {missing[0]}'
    for key in _NAMES:
        if key in data and not isinstance(data[key], str):
            return f'{key} is {_shown(data[key])}, not a name'
    if not _is_number(data['score']):
        return f'score is {_shown(data["score"])}, not a number'
    if 'kind' in data and data['kind'] not in tuple(Kind):
        return f'kind is {_shown(data["kind"])}, not one of {", ".join(Kind)}'
    for key, pair in zip(_PAIRS, ('[start, stop] in seconds', '[low, high]', '[low, high]')):
        value = data.get(key)
        if key in data and not (isinstance(value, list) and len(value) == 2 and all(map(_is_number, value))):
            return f'{key} is {_shown(value)}, not {pair}'
    for key in ('raw', 'ceiling'):  # a labelled raw holds per-subject values, which paired_p reads
        value = data.get(key)
        problem = None if not isinstance(value, dict) else (
            _labelled_problem(key, value) if 'coords' in value else _unlabelled_problem(key, value))
        if problem:
            return problem
    kind = data['kind'] if 'kind' in data else our_kind(data['benchmark'])[0]
    return _time_courses_problem(data) if kind == Kind.EEG else None


def _time_courses_problem(data: dict) -> str | None:
    for key, dims in TIME_COURSES.items():
        if key not in data:
            return f'a temporal RSA score without {key}'
        problem = _labelled_problem(key, data[key], list(dims))
        if problem:
            return problem
    course, ceiling = (np.asarray(data[key]['values']) for key in TIME_COURSES)
    if course.shape[1] != ceiling.shape[1] or ceiling.shape[0] != 2:
        return (f'ceiling_time_course is {ceiling.shape[0]} × {ceiling.shape[1]}, not 2 bounds × the '
                f'{course.shape[1]} time points of time_course')
    if not course.size:
        return 'time_course holds no subject or no time point'
    matched = data.get('matched_subject')
    if matched is not None and data['time_course']['coords']['subject'] != [matched]:
        return f'a score matched with {_shown(matched)} whose time_course holds other subjects'
    return None


def _unlabelled_problem(name: str, array: dict) -> str | None:
    """What keeps ``array`` from being an array with named dims and no coords (a hand-written
    file's per-subject values): {dims, values}, numeric values with one dimension per dim."""
    if not (isinstance(array.get('dims'), list) and all(isinstance(d, str) for d in array['dims'])):
        return f'{name} is not a labelled array ({{"dims", "values"}})'
    if not _numbers(array.get('values')):
        return f'{name} values are not an array of numbers (a string, a null or rows of unequal length)'
    if np.ndim(array['values']) != len(array['dims']):
        return f"{name} values have {np.ndim(array['values'])} dimension(s), its dims {len(array['dims'])}"
    return None


def _labelled_problem(name: str, array, dims: list | None = None) -> str | None:
    """What keeps ``array`` from being a labelled array (with ``dims``, if given): {dims, coords:
    {dim: labels}, values}, one label per position (time bins numeric), numeric values of the
    coords' shape."""
    if not (isinstance(array, dict) and isinstance(array.get('dims'), list) and 'values' in array
            and all(isinstance(d, str) for d in array['dims'])):
        return f'{name} is not a labelled array ({{"dims", "coords", "values"}})'
    if dims is not None and array['dims'] != dims:
        return f'{name} has dims {_shown(array["dims"])}, expected {dims}'
    coords = array.get('coords') if isinstance(array.get('coords'), dict) else {}
    missing = [d for d in array['dims'] if not isinstance(coords.get(d), list)]
    if missing:
        return f'{name} has no coords for its dim {missing[0]!r}'
    nested = [d for d in array['dims'] if any(isinstance(label, (list, dict)) for label in coords[d])]
    if nested:
        return f'{name} has coords for {nested[0]!r} that are not one label per position'
    if 'time_bin' in coords and not _numbers(coords['time_bin']):
        return f'{name} has time bins that are not numbers (seconds)'
    if not _numbers(array['values']):
        return f'{name} values are not an array of numbers (a string, a null or rows of unequal length)'
    shape, expected = np.shape(array['values']), tuple(len(coords[d]) for d in array['dims'])
    if shape != expected:
        return f'{name} values have shape {shape}, its coords {expected}'
    return None


def _typed(key: str, value):
    if isinstance(value, dict) and key in ('raw', 'ceiling', *TIME_COURSES):
        return LabelledArray.from_json(value)
    return tuple(value) if key in _PAIRS else value


def _plain(value):
    """Numbers and arrays as JSON values, labelled arrays with their dims and coords; strings as
    they are; anything else None."""
    if isinstance(value, str):
        return value
    if isinstance(value, xr.DataArray) and value.ndim > 0 and all(d in value.coords for d in value.dims):
        return {'dims': list(value.dims), 'coords': {d: _plain(value[d].values) for d in value.dims},
                'values': _plain(value.values)}
    if isinstance(value, np.ndarray) and value.dtype.kind in 'OUS':
        return [str(v) for v in value.tolist()]
    try:
        array = np.asarray(getattr(value, 'values', value), dtype=float)
    except (TypeError, ValueError):
        return None
    return array.item() if array.ndim == 0 else array.tolist()


def _numbers(value) -> bool:
    """Whether ``value`` is a number or a regular (not ragged) nest of lists of numbers."""
    try:
        return np.asarray(value).dtype.kind in 'iuf'
    except ValueError:  # ragged
        return False


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json_kind(value) -> str:
    return {list: 'list', str: 'string', bool: 'boolean', type(None): 'null'}.get(type(value), 'number')


def _shown(value) -> str:
    """``value`` briefly, for a one-line message."""
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + '...'
