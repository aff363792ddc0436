"""The kept-score store of `brainscore compare` and `brainscore score --models`: each model's suite results in
``scores/<name>.json``, reused while the model's weights, the data and the benchmark settings stay
the same, and refused (not replaced) when a kept file is not one this store wrote."""
import json
import os
from dataclasses import dataclass
from pathlib import Path

from . import plugin
from .backbones import is_backbone
from .checkpoint import read_checkpoint
from .data import data_folder, data_source
from .errors import RealnetError, first_line
from .files import atomic_path, regular_file
from .identifiers import confined, eeg_subject, parse, split_weights
from .models import BATCH_SIZE, aligned_name, checked_name, known, network_identifier
from .records import ScoreRecord, record_problem
from .suite import SuiteResult
from .weights import WEIGHTS

CHECKPOINT_SUFFIXES = ('.pt', '.pth', '.ckpt', '.bin')  # a name ending so is a file's, not a model's


@dataclass(frozen=True)
class Candidate:
    name: str                    # what the outputs call it: a model identifier, or the user's NAME=FILE
    weights: Path | None = None  # a file in place of the published weights
    model: str | None = None     # the identifier the weights load as, where ``name`` is the user's own

    @property
    def loads_as(self) -> str:
        """The model identifier ``models.load_model`` builds it by."""
        return self.model or self.name

    @property
    def identifier(self) -> str:
        """Brain-Score's identifier: it changes with the weights (as ``models.load_network``'s)."""
        return network_identifier(self.loads_as, self.weights)


def candidates(texts: list[str]) -> list[Candidate]:
    """`--models`' SPECs, each name once (a second one is refused in one line, before any work)."""
    found = [c for text in texts for c in _candidates(text)]
    names = [c.name for c in found]
    twice = list(dict.fromkeys(name for name in names if names.count(name) > 1))
    if twice:
        raise RealnetError(f'each model once, please: {", ".join(twice)} is given twice (name a checkpoint '
                           'NAME=FILE to tell files apart)')
    return found


def _candidates(text: str) -> list[Candidate]:
    """``MODEL``, ``NAME=FILE``, a checkpoint ``FILE`` (under the name it gives itself) or a folder of
    runs (each ``RUN/best.pt`` that `brainscore train --out` wrote; a run folder's own best.pt). A word
    with '=' is NAME=FILE unless it names a path; another is a path when it names one (not a model's
    name) or ends as a checkpoint file does; else a model identifier."""
    path = Path(text)
    is_path = _exists(path) if '=' in text else (
        path.suffix in CHECKPOINT_SUFFIXES or (_exists(path) and not _model_like(text)))
    if not is_path:
        try:
            return [candidate(text)]  # a model identifier (one in the table wins over a file of its name)
        except RealnetError as error:
            if '/' in text or os.sep in text:
                raise RealnetError(f'{error} (nor is {text} a file or a folder of runs: no such path)') from error
            raise
    if path.is_dir():
        runs = [path / 'best.pt'] if (path / 'best.pt').is_file() else sorted(path.glob('*/best.pt'))
        if not runs:
            raise RealnetError(f'{path}: no runs in it (no best.pt in it or in its sub-folders, as '
                               '`brainscore train --out` writes them)')
        return [_self_named(run) for run in runs]
    return [_self_named(regular_file(path, 'weights file'))]


def _self_named(path: Path) -> Candidate:
    """A checkpoint of `brainscore train` under the name it gives itself (``realnet-s01``)."""
    own = aligned_name(read_checkpoint(path).meta, path)
    if own is None:
        raise RealnetError(f'{path} gives itself no model name (not a checkpoint of `brainscore train`); '
                           'say which model it holds: MODEL=FILE, e.g. cornet-s=FILE')
    return Candidate(own, path)


def candidate(text: str) -> Candidate:
    """``MODEL`` or ``NAME=FILE``; unknown models and missing files fail here, before any work. NAME is
    the model the file holds (``realnet-s01=FILE``, ``cornet-s=FILE``) or, for a checkpoint of
    `brainscore train`, any name that is no model's (``lr-high=FILE``): the file loads under its own."""
    name, weights = split_weights(text)
    confined(name)  # it names the kept score file scores/<name>.json
    if weights is None:
        known(name)
        return Candidate(name)
    regular_file(weights, f'weights file (given for {name})')
    checkpoint = read_checkpoint(weights)
    try:
        checked_name(name, checkpoint, weights)  # a file of another backbone loads under its own name
    except RealnetError:
        own = aligned_name(checkpoint.meta, weights)
        if own is None or _model_like(name):
            raise
        return Candidate(name, weights, own)
    return Candidate(name, weights)


def _model_like(name: str) -> bool:
    """Whether ``name`` reads as a model's (published, aligned or an architecture): a label must not."""
    try:
        return name in WEIGHTS or parse(name).modality is not None or is_backbone(name)
    except RealnetError:  # an aligned form with parts no name may hold: not a label either
        return True


def _exists(path: Path) -> bool:
    try:
        return path.exists()
    except (OSError, ValueError):  # a name too long for the system, or with a NUL
        return False


def score_models(candidates: list[Candidate], scores_dir, benchmarks: list[str], things_eeg2=None, shen2019=None,
                 batch_size: int = BATCH_SIZE, say=print, options: dict | None = None,
                 matched=()) -> dict[str, list[SuiteResult]]:
    """Each candidate's suite results, by name. ``options``: our benchmarks' further options
    (``screen``, ``method``; None or absent: their defaults). The candidates named in ``matched``
    (personal EEG models) are compared with their own subject only (see ``model_options``). Scores are kept in
    ``scores_dir/<name>.json`` and reused for the same weights, data and benchmark settings;
    what was unavailable is tried again. Every kept file is read before any scoring: a damaged one
    stops the run at once (one line naming it; the user deletes it to rescore)."""
    from .models import load_model
    from .suite import run_suite
    scores_dir = Path(scores_dir)
    scores_dir.mkdir(parents=True, exist_ok=True)
    options = {key: value for key, value in (options or {}).items() if value is not None}
    data = {'things_eeg2': data_source('things_eeg2', things_eeg2), 'shen2019': data_source('shen2019', shen2019),
            **({'card': str(Path(options['data']).resolve())} if options.get('data') else {})}
    chosen = {c.name: model_options(c.name, options, c.name in matched) for c in candidates}
    settings = {c.name: benchmark_settings(benchmarks, chosen[c.name]) for c in candidates}
    paths = {c.name: score_path(scores_dir, c) for c in candidates}
    kept_by_name = {c.name: kept_records(paths[c.name], c.identifier, data, settings[c.name]) for c in candidates}
    loaded, results = {}, {}  # loaded benchmarks by matched subject: a benchmark carries its subject
    for candidate in candidates:
        path, kept = paths[candidate.name], kept_by_name[candidate.name]
        todo = [b for b in benchmarks if b not in kept]
        say(f'{candidate.name}: {len(benchmarks) - len(todo)} scores kept in {path}, {len(todo)} to run')
        for benchmark in (b for b in benchmarks if b in kept):
            say(f'{candidate.name}  {SuiteResult(benchmark, kept[benchmark]).line()}  (kept)')
        fresh = {}
        if todo:
            try:
                model = load_model(candidate.loads_as, weights=candidate.weights, batch_size=batch_size)
            except RealnetError as error:
                fresh = {b: SuiteResult(b, unavailable=f'the model cannot load: {error}') for b in todo}
                say(f'{candidate.name}: unavailable: {error}')
            else:
                fresh = {r.benchmark: r for r in run_suite(
                    model, todo, things_eeg2=things_eeg2, shen2019=shen2019, loaded=loaded.setdefault(
                        chosen[candidate.name].get('matched_subject'), {}), **chosen[candidate.name],
                    on_result=lambda result: say(f'{candidate.name}  {result.line()}'))}
        results[candidate.name] = [SuiteResult(b, kept[b]) if b in kept else fresh[b] for b in benchmarks]
        with atomic_path(path) as partial:
            partial.write_text(json.dumps({'model': candidate.identifier, 'data': data,
                                           'settings': settings[candidate.name],
                                           'results': [r.to_json() for r in results[candidate.name]]}, indent=1) + '\n')
    return results


def model_options(name: str, options: dict, matched: bool) -> dict:
    """``options``, with ``matched``: the EEG benchmarks' ``matched_subject``, the subject the
    model's name says it was aligned with (``identifiers.eeg_subject``; a model of none is scored
    on every subject)."""
    subject = eeg_subject(name) if matched else None
    return options if subject is None else {**options, 'matched_subject': subject}


def score_path(scores_dir, candidate: Candidate) -> Path:
    """Where ``candidate``'s scores are kept: ``scores_dir/<name>.json``, its name confined (see
    ``identifiers.confined``) wherever the candidate came from."""
    return Path(scores_dir) / f'{confined(candidate.name)}.json'


def inputs_of(candidates: list[Candidate], things_eeg2=None, shen2019=None) -> list:
    """Every path scoring ``candidates`` reads: their weights files (a published model's cached copy)
    and the data folders, those set by environment variables included (see ``files.outside_inputs``)."""
    from .weights import cached_path
    weights = [c.weights or (cached_path(c.loads_as) if c.loads_as in WEIGHTS else None) for c in candidates]
    return [*weights, data_folder('things_eeg2', things_eeg2), data_folder('shen2019', shen2019)]


def benchmark_settings(benchmarks: list[str], options: dict) -> dict:
    """{benchmark: what its score depends on besides the model and the data}, for ours loaded with
    ``options`` (their own defaults filling the rest); {} for Brain-Score's, which take no options."""
    ours = set(plugin.list_benchmarks(options.get('data')))
    return {b: plugin.load_benchmark(b, strict=False, **options).settings() if b in ours else {} for b in benchmarks}


def kept_records(path: Path, identifier: str, data: dict, settings: dict) -> dict[str, ScoreRecord]:
    """The records of ``path`` computed for this model, data and, benchmark by benchmark, settings
    (a record without a kind, of Brain-Score's benchmark from before records had kinds, is scored
    again). A file that is not as score_models writes it is refused, not replaced: it may be the user's."""
    if not path.exists():
        return {}
    try:
        kept = json.loads(path.read_bytes())
    except (OSError, ValueError, RecursionError) as error:
        problem = f'not readable JSON: {first_line(error)}'
    else:
        problem = _kept_problem(kept)
    if problem:
        raise RealnetError(f'{path}: not a kept score file of `brainscore compare` ({problem}); '
                           f'delete it to score {path.stem} afresh')
    if kept.get('model') != identifier or kept.get('data') != data:
        return {}
    computed_with = kept.get('settings') if isinstance(kept.get('settings'), dict) else {}
    records = {r['benchmark']: ScoreRecord.from_json(r['record']) for r in kept.get('results', [])
               if 'record' in r and r['benchmark'] in settings
               and computed_with.get(r['benchmark']) == settings[r['benchmark']]}
    return {benchmark: record for benchmark, record in records.items() if record.kind is not None}


def _kept_problem(kept) -> str | None:
    """What is wrong with a parsed kept score file, in the parts that are reused: its results
    and their score records (see records.record_problem); None when nothing is."""
    if not isinstance(kept, dict) or not isinstance(kept.get('results'), list):
        return 'not an object with model, data, settings and a list of results'
    for entry in kept['results']:
        if not isinstance(entry, dict) or not isinstance(entry.get('benchmark'), str):
            return 'a result without a benchmark name'
        if 'record' in entry:
            problem = record_problem(entry['record'])
            if problem is None and entry['record']['benchmark'] != entry['benchmark']:
                problem = f"its record is of {entry['record']['benchmark']}"
            if problem:
                return f"{entry['benchmark']}: {problem}"
    return None


def records_by_model(results: dict[str, list[SuiteResult]]) -> dict[str, dict[str, ScoreRecord]]:
    """{name: {benchmark: record}} of what ran, each record labelled with the model's name."""
    return {name: {r.benchmark: r.record.named(name) for r in entries if r.record is not None}
            for name, entries in results.items()}
