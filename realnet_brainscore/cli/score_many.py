"""`brainscore score --models`: many models (published ones, checkpoint files, folders of runs) on one
benchmark or the suite, each score kept as `brainscore compare` keeps it (OUT/scores/<name>.json,
reused while weights, data and settings stay the same) and the lot written as a table."""
import csv
import json
from pathlib import Path

from ..errors import RealnetError, printable
from .options import MODEL_SPECS, benchmark_options, card_inputs, flag, with_flags

MODELS_HELP = 'score each of these once, their scores kept in --out DIR (needed): ' + MODEL_SPECS
OUT_HELP = ('with --models: where the scores are kept (DIR/scores/<name>.json, as `brainscore compare` keeps them: '
            'a second run scores only what is not kept for the same weights, data and settings; delete them to '
            'rescore) and the table of this run is written (DIR/score_table.csv and .json: model, identifier, '
            'weights, benchmark, score, raw, ceiling, unavailable)')
TABLE_FILES = ('score_table.csv', 'score_table.json')
COLUMNS = ('model', 'identifier', 'weights', 'benchmark', 'score', 'raw', 'ceiling', 'unavailable')
ONE_MODEL = ('weights', 'json', 'plot', 'layers', 'matched', 'force')  # what goes with --model only


def check_flags(args):
    """--models with what it needs (--out) and without what goes with one --model; --out not without it."""
    if args.models is None:
        if args.out is not None:
            raise RealnetError('--out goes with --models (one --model writes its score with --json FILE)')
        return
    given = [name for name in ONE_MODEL if getattr(args, name)]
    if given:
        hint = ' (give a checkpoint as NAME=FILE in --models)' if given[0] == 'weights' else ''
        raise RealnetError(f'{flag(given[0])} goes with --model, not --models{hint}')
    if args.out is None:
        raise RealnetError('--models needs --out DIR: where the scores are kept (DIR/scores/) and the table written')


def run(args):
    """Each model of --models on --benchmark (or the suite): one line per model × benchmark, the table
    in --out; exit 2 when no model could be scored on anything."""
    from .. import report, score_store
    from ..suite import suite_benchmarks
    options = {**benchmark_options(args), 'drop_nan_voxels': args.drop_nan_voxels or None}
    candidates = score_store.candidates(args.models)
    if args.benchmark is not None:
        _check_benchmark(args, options)
    inputs = [*score_store.inputs_of(candidates, args.things_eeg2, args.shen2019), *card_inputs(args.data)]
    out = report.report_folder(args.out, inputs, files=TABLE_FILES)  # before any scoring
    from ..files import outside_inputs
    for candidate in candidates:
        outside_inputs(score_store.score_path(out / 'scores', candidate), inputs, '`out`')
    benchmarks = [args.benchmark] if args.benchmark else suite_benchmarks(data=args.data)
    results = score_store.score_models(candidates, out / 'scores', benchmarks, things_eeg2=args.things_eeg2,
                                       shen2019=args.shen2019, batch_size=args.batch_size, options=options,
                                       say=lambda line: print(printable(with_flags(line)), flush=True))
    rows = table_rows(candidates, results)
    for path in write_table(out, rows):
        print(printable(f'wrote {path}'))
    if all(row['score'] is None for row in rows):
        raise RealnetError('no model could be scored on any benchmark here (see the unavailable lines above)')
    return 0


def _check_benchmark(args, options):
    """--benchmark refused as `score --model` refuses it (another data set's than the card's, an option
    it does not take), before any model loads. Brain-Score's own are built only when an option is
    given (which refuses them before they load: loading may download them)."""
    from ..plugin import list_benchmarks, load_benchmark
    given = any(value is not None for key, value in options.items() if key != 'data')
    if given or args.benchmark in list_benchmarks(args.data) + list_benchmarks(None):
        load_benchmark(args.benchmark, things_eeg2=args.things_eeg2, shen2019=args.shen2019, **options)


def table_rows(candidates, results) -> list[dict]:
    """A row per model × benchmark (COLUMNS): raw and ceiling where they are single numbers, else None;
    ``unavailable``: why a benchmark could not run here, naming the flags that change it."""
    rows = []
    for candidate in candidates:
        for result in results[candidate.name]:
            record = result.record
            rows.append({'model': candidate.name, 'identifier': candidate.identifier,
                         'weights': str(Path(candidate.weights).resolve()) if candidate.weights else None,
                         'benchmark': result.benchmark, 'score': record.score if record else None,
                         'raw': _number(record.raw) if record else None,
                         'ceiling': _number(record.ceiling) if record else None,
                         'unavailable': with_flags(result.unavailable) if result.unavailable else None})
    return rows


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def write_table(folder: Path, rows: list[dict]) -> list[Path]:
    """``rows`` as TABLE_FILES in ``folder`` (CSV: empty cells for None), each written atomically."""
    from ..files import atomic_path
    csv_path, json_path = (folder / name for name in TABLE_FILES)
    with atomic_path(csv_path) as partial, open(partial, 'w', newline='') as stream:
        writer = csv.DictWriter(stream, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)
    with atomic_path(json_path) as partial:
        partial.write_text(json.dumps(rows, indent=1) + '\n')
    return [csv_path, json_path]
