"""A cell's scoring: ``[score]`` checked, then the cell's best checkpoint scored on its benchmarks with
`brainscore compare`'s kept-score store (kept in the cell's folder, reused when a cell is retried),
and, for the transfer matrix, a personal EEG model on each of the sweep's subjects in turn."""
import argparse
from pathlib import Path

from ..errors import RealnetError, printable

SCORE_KEYS = {
    'benchmarks': 'the benchmarks each cell is scored on (required), e.g. ["Gifford2022.IT-temporal_rsa"]',
    'screen': 'as score --screen', 'rdm': 'as score --rdm', 'eeg_form': 'as score --eeg-form',
    'bootstrap': 'as score --bootstrap', 'batch_size': 'as score --batch-size',
    'things_eeg2': "the benchmarks' THINGS-EEG2 folder (default: the cell's training data, if THINGS-EEG2)",
    'shen2019': "the benchmarks' Shen 2019 folder (default: the cell's training data, if Shen 2019)",
    'data': "a data-set card whose benchmarks are named (default: the cell's training card, if any)",
    'matched': 'true: a personal EEG model is compared with its own subject only (score --matched)',
    'transfer': 'each personal EEG model also on every subject of the sweep (default: true with several)',
}
_TYPES = {'benchmarks': list, 'screen': str, 'rdm': str, 'eeg_form': str, 'bootstrap': int, 'batch_size': int,
          'things_eeg2': str, 'shen2019': str, 'data': str, 'matched': bool, 'transfer': bool}


def score_settings(path: Path, table: dict) -> dict:
    """[score] with every key and value checked (score's own checks for screen, rdm, eeg_form and
    bootstrap); paths made absolute from the sweep file's folder."""
    settings = {}
    for key, value in table.items():
        name = key.replace('-', '_')
        if name not in SCORE_KEYS:
            raise RealnetError(f'{path}: [score] {printable(key)}: unknown; [score] takes {", ".join(SCORE_KEYS)}')
        if not isinstance(value, _TYPES[name]) or (_TYPES[name] is int and isinstance(value, bool)):
            raise RealnetError(f'{path}: [score] {key}: expected {_TYPES[name].__name__}, got {printable(repr(value))[:60]}')
        settings[name] = str((path.parent / value).resolve()) if name in ('things_eeg2', 'shen2019', 'data') else value
    benchmarks = settings.get('benchmarks')
    if not benchmarks or not all(isinstance(b, str) and b for b in benchmarks):
        raise RealnetError(f'{path}: [score] benchmarks: expected a list of benchmark names, e.g. '
                           'benchmarks = ["Gifford2022.IT-temporal_rsa"] (brainscore benchmarks lists ours)')
    if len(set(benchmarks)) < len(benchmarks):
        raise RealnetError(f'{path}: [score] benchmarks: a benchmark is listed twice')
    if settings.get('batch_size', 1) < 1 or settings.get('bootstrap', 0) < 0:
        raise RealnetError(f'{path}: [score] batch_size must be 1 or more and bootstrap 0 or more')
    try:
        benchmark_options(settings, {})
    except RealnetError as error:
        raise RealnetError(f'{path}: [score]: {error}') from None
    return settings


def benchmark_options(settings: dict, train_options: dict) -> dict:
    """The options score_store gives the benchmarks (``screen``, ``method``, ...), checked as `score` checks them."""
    from ..cli.options import benchmark_options as checked, with_flags
    args = argparse.Namespace(screen=settings.get('screen'), rdm=settings.get('rdm'), eeg_form=settings.get('eeg_form'),
                              bootstrap=settings.get('bootstrap'), **data_folders(settings, train_options))
    try:
        return checked(args)
    except RealnetError as error:
        raise RealnetError(with_flags(str(error))) from None


def data_folders(settings: dict, train_options: dict) -> dict:
    """The benchmarks' data: [score]'s, else the data the cell was trained on (its test images)."""
    return {name: settings.get(name) or train_options.get(name) for name in ('things_eeg2', 'shen2019', 'data')}


def transfer_wanted(settings: dict, subjects: list[int]) -> bool:
    return settings.get('transfer', len(subjects) > 1)


def score_cell(checkpoint: Path, folder: Path, settings: dict, train_options: dict, subjects: list[int],
               say=print) -> dict:
    """The cell's model (the name its checkpoint gives itself) scored on [score]'s benchmarks, kept in
    ``folder``/scores; with transfer, a personal EEG model on each subject, in ``folder``/transfer/sub-NN.
    Returns {'model', 'results': {benchmark: result}, 'transfer': {benchmark: {subject: score}}}."""
    from .. import score_store
    from ..checkpoint import read_checkpoint
    from ..identifiers import eeg_subject
    from ..models import aligned_name
    name = aligned_name(read_checkpoint(checkpoint).meta, checkpoint)
    candidate = score_store.candidate(f'{name}={checkpoint}')
    data, options = data_folders(settings, train_options), benchmark_options(settings, train_options)
    common = dict(things_eeg2=data['things_eeg2'], shen2019=data['shen2019'], say=say,
                  batch_size=settings.get('batch_size', score_store.BATCH_SIZE))
    matched = [name] if settings.get('matched') and eeg_subject(name) is not None else []
    results = score_store.score_models([candidate], folder / 'scores', settings['benchmarks'], options=options,
                                       matched=matched, **common)[name]
    transfer = {}
    eeg = _eeg_benchmarks(settings['benchmarks'], options.get('data'))
    if eeg and eeg_subject(name) is not None and transfer_wanted(settings, subjects):
        for subject in subjects:
            scored = score_store.score_models([candidate], folder / 'transfer' / f'sub-{subject:02d}', eeg,
                                              options={**options, 'matched_subject': subject}, **common)[name]
            for result in scored:
                transfer.setdefault(result.benchmark, {})[f'sub-{subject:02d}'] = (
                    result.record.score if result.record else None)
    if not any(result.record for result in results):
        reasons = [result.unavailable for result in results]
        raise RealnetError(f'no benchmark could be scored: {reasons[0]}')
    return {'model': name, 'results': {r.benchmark: _result(r) for r in results}, 'transfer': transfer}


def _eeg_benchmarks(benchmarks: list[str], card) -> list[str]:
    from ..records import Kind, our_kind
    return [b for b in benchmarks if our_kind(b, card)[0] == Kind.EEG]


def _result(result) -> dict:
    """A benchmark's outcome as the cell's status keeps it: the score (raw, ceiling, interval) or why not."""
    if result.record is None:
        return {'unavailable': result.unavailable}
    record = result.record
    plain = {'score': record.score, 'interval': list(record.interval) if record.interval else None}
    for name in ('raw', 'ceiling'):
        value = getattr(record, name)
        plain[name] = value if isinstance(value, float) else None
    return plain


def check_scoring(settings: dict, train_options: dict, where: str):
    """The data each cell's benchmarks read, checked before anything runs."""
    try:
        benchmark_options(settings, train_options)
    except RealnetError as error:
        raise RealnetError(f'{where}: [score]: {error}') from None
