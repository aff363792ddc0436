"""`brainscore sweep report`: every cell x benchmark as one table (CSV and JSON, with the settings that
produced each score), the scores by each varied setting, and the transfer matrix (each personal
model on its own subject and on every other). Statistics here are data; figures.py only draws them."""
import csv
import json
from pathlib import Path

from ..errors import RealnetError
from ..files import atomic_path, outside_inputs, writable_folder
from .runner import read_plan
from .status import cell_state, read_status

REPORT_FILES = ('scores.csv', 'scores.json', 'scores.png', 'transfer.csv', 'transfer.json', 'transfer.png')
SCORE_COLUMNS = ('cell', 'state', 'model', 'benchmark', 'score', 'raw', 'ceiling', 'interval_low', 'interval_high',
                 'unavailable')


def write_sweep_report(directory, out=None) -> list[Path]:
    """The report's files, written into ``out`` (default DIR/report); the paths written."""
    directory = Path(directory)
    plan = read_plan(directory)
    folder = report_folder(Path(out) if out else directory / 'report', directory)
    settings = [*plan['train'], *plan['grid']]
    rows = score_rows(directory, plan)
    written = [_write_csv(folder / 'scores.csv', rows, [*SCORE_COLUMNS, *settings]),
               _write_json(folder / 'scores.json', {'sweep': str(directory.resolve()), 'varied': list(plan['grid']),
                                                    'rows': rows, 'by_setting': by_setting(rows, plan['grid'])})]
    from .figures import draw_scores_by_setting, draw_transfer
    if any(row['score'] is not None for row in rows) and plan['grid']:
        draw_scores_by_setting(by_setting(rows, plan['grid']), folder / 'scores.png')
        written.append(folder / 'scores.png')
    matrices = transfer_matrices(directory)
    if matrices:
        flat = [{'benchmark': b, 'cell': row['cell'], 'model': row['model'], 'trained_on': row['subject'],
                 'scored_on': subject, 'score': score, 'own': subject == row['subject']}
                for b, matrix in matrices.items() for row in matrix['rows']
                for subject, score in zip(matrix['subjects'], row['scores'])]
        written += [_write_csv(folder / 'transfer.csv', flat, list(flat[0])),
                    _write_json(folder / 'transfer.json', {'sweep': str(directory.resolve()), 'matrices': matrices})]
        draw_transfer(matrices, folder / 'transfer.png')
        written.append(folder / 'transfer.png')
    return written


def report_folder(folder: Path, directory: Path) -> Path:
    """``folder`` once the report may be written there: new, or holding an earlier sweep report (its
    scores.json names a sweep); a report file of that name in any other folder is not replaced. It
    may not lie inside a cell, whose files are the cell's job's."""
    outside_inputs(folder, [directory / 'cells'], '--out folder')
    scores = folder / 'scores.json'
    ours = False
    if scores.is_file():
        try:
            ours = 'sweep' in json.loads(scores.read_bytes())
        except (OSError, ValueError, RecursionError, TypeError):
            ours = False
    taken = [name for name in REPORT_FILES if (folder / name).exists()]
    if taken and not ours:
        raise RealnetError(f'{folder / taken[0]} exists and is not of an earlier sweep report; choose another --out')
    return writable_folder(folder)


def score_rows(directory: Path, plan: dict) -> list[dict]:
    """One row per cell and benchmark: the cell's state, its score (raw, ceiling, interval) or why
    none, and every setting it was trained with."""
    rows = []
    for folder in sorted((directory / 'cells').iterdir()) if (directory / 'cells').is_dir() else []:
        settings = _cell_settings(folder)
        if settings is None:
            continue
        state, _ = cell_state(folder)
        status = read_status(folder) or {}
        results = status.get('results', {}) if state == 'done' else {}
        for benchmark in plan['score']['benchmarks']:
            result = results.get(benchmark, {})
            interval = result.get('interval') or [None, None]
            rows.append({'cell': folder.name, 'state': state, 'model': status.get('model'), 'benchmark': benchmark,
                         'score': result.get('score'), 'raw': result.get('raw'), 'ceiling': result.get('ceiling'),
                         'interval_low': interval[0], 'interval_high': interval[1],
                         'unavailable': result.get('unavailable'), **settings['options']})
    return rows


def _cell_settings(folder: Path) -> dict | None:
    try:
        settings = json.loads((folder / 'settings.json').read_bytes())
    except (OSError, ValueError, RecursionError):
        return None
    return settings if isinstance(settings, dict) and isinstance(settings.get('options'), dict) else None


def by_setting(rows: list[dict], grid: dict) -> dict:
    """{setting: {benchmark: {value: [scores of the cells with that value]}}} for each varied setting,
    the values in the grid's order (as text: a figure's axis labels)."""
    found = {}
    for setting, values in grid.items():
        for row in rows:
            if row['score'] is None:
                continue
            per_value = found.setdefault(setting, {}).setdefault(row['benchmark'], {_text(v): [] for v in values})
            per_value.setdefault(_text(row.get(setting)), []).append(row['score'])
    return found


def _text(value) -> str:
    return ' '.join(map(str, value)) if isinstance(value, list) else str(value)


def transfer_matrices(directory: Path) -> dict:
    """{benchmark: {'subjects': [...], 'rows': [{'cell', 'model', 'subject', 'scores'}], 'own_mean',
    'other_mean'}}: each finished cell's personal model on every subject (None where not scored)."""
    cells = []
    for folder in sorted((directory / 'cells').iterdir()) if (directory / 'cells').is_dir() else []:
        status = read_status(folder) if (folder / 'status.json').exists() else None
        if status and status['state'] == 'done' and status.get('transfer'):
            cells.append((folder.name, status))
    matrices = {}
    for cell, status in cells:
        from ..identifiers import eeg_subject
        own = f'sub-{eeg_subject(status["model"]):02d}'
        for benchmark, scores in status['transfer'].items():
            matrix = matrices.setdefault(benchmark, {'subjects': set(), 'rows': []})
            matrix['subjects'].update(scores)
            matrix['rows'].append({'cell': cell, 'model': status['model'], 'subject': own, 'scores': scores})
    for matrix in matrices.values():
        matrix['subjects'] = sorted(matrix['subjects'])
        for row in matrix['rows']:
            row['scores'] = [row['scores'].get(subject) for subject in matrix['subjects']]
        pairs = [(subject == row['subject'], score) for row in matrix['rows']
                 for subject, score in zip(matrix['subjects'], row['scores']) if score is not None]
        matrix['own_mean'] = _mean([score for own, score in pairs if own])
        matrix['other_mean'] = _mean([score for own, score in pairs if not own])
    return matrices


def _mean(values: list) -> float | None:
    return sum(values) / len(values) if values else None


def _write_csv(path: Path, rows: list[dict], columns: list[str]) -> Path:
    with atomic_path(path) as partial:
        with open(partial, 'w', newline='') as stream:
            writer = csv.DictWriter(stream, fieldnames=columns, extrasaction='ignore')
            writer.writeheader()
            writer.writerows([{k: _text(v) if isinstance(v, list) else v for k, v in row.items()} for row in rows])
    return path


def _write_json(path: Path, content) -> Path:
    with atomic_path(path) as partial:
        partial.write_text(json.dumps(content, indent=1) + '\n')
    return path
