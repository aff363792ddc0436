"""`brainscore score`: a model on one benchmark, or on the whole suite (many models: score_many)."""
from ..data.things_eeg2 import subject_name
from ..errors import RealnetError, printable
from ..identifiers import eeg_subject
from ..models import REGION_LAYER_MAP, load_model
from ..plugin import load_benchmark
from ..records import Kind, ScoreRecord, our_kind
from ..weights import WEIGHTS, cached_path, realnet_home
from .options import (add_batch_size, add_benchmark_options, add_data_folders, add_force, benchmark_options, card_inputs,
                      command, with_flags, write_json)
from . import score_many


def add_parsers(commands):
    parser = command(commands, 'score', run, help='score a model (or many) on a benchmark, or on the whole suite',
                     description='Score a model on one of our benchmarks (`brainscore benchmarks`) or any benchmark '
                                 'brainscore_vision.load_benchmark knows, e.g. MajajHong2015public.IT-pls; without '
                                 '--benchmark, on the whole suite. Many models (checkpoints, folders of runs): '
                                 '--models … --out DIR, each scored once and kept there.')
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument('--model', metavar='MODEL',
                       help='model identifier (see `brainscore models`), a torchvision architecture (its ImageNet '
                            'weights) or, with --weights, the name an aligned checkpoint gives itself')
    which.add_argument('--models', nargs='+', metavar='SPEC', help=score_many.MODELS_HELP)
    parser.add_argument('--benchmark', metavar='BENCH',
                        help='benchmark identifier; without it, the whole suite: every EEG region, every fMRI ROI '
                             "and Brain-Score's behavioural benchmarks (what cannot run here is listed as "
                             'unavailable)')
    parser.add_argument('--weights', metavar='FILE',
                        help="use this checkpoint instead of the published weights (identifier gets '+<hash>')")
    add_data_folders(parser)
    parser.add_argument('--drop-nan-voxels', action='store_true',
                        help='leave out fMRI voxels with NaN values instead of refusing the data')
    parser.add_argument('--layers', choices=['all'],
                        help='score the benchmark with every model region (V1 V2 V4 IT) instead of its own')
    add_batch_size(parser)
    add_benchmark_options(parser)
    parser.add_argument('--matched', action='store_true',
                        help="a personal EEG model (a name ending -sNN: realnet-s01, resnet50-eeg-s01) on the EEG "
                             "benchmarks: compared with its own THINGS-EEG2 subject only, as the paper compares "
                             "ReAlnet k with subject k (default: with every subject, averaged, as Brain-Score does); "
                             "the score is divided by the all-subject ceiling, its raw value is the paper's ρ")
    parser.add_argument('--json', metavar='OUT', help='also write the score and its attributes as JSON')
    parser.add_argument('--plot', metavar='PNG|DIR',
                        help='also draw the time course (one temporal RSA benchmark: a PNG; the suite: a folder)')
    parser.add_argument('--out', metavar='DIR', help=score_many.OUT_HELP)
    add_force(parser, 'existing --json and --plot files')


def run(args):
    score_many.check_flags(args)
    if args.models is not None:
        return score_many.run(args)
    options = {**benchmark_options(args), **matched_option(args)}  # first: a bad value fails before the model loads
    _check_outputs(args, options)
    model = load_model(args.model, weights=args.weights, batch_size=args.batch_size)
    if args.benchmark is None:
        return _score_suite(model, args, options)
    benchmark = load_benchmark(args.benchmark, things_eeg2=args.things_eeg2, shen2019=args.shen2019,
                               drop_nan_voxels=args.drop_nan_voxels or None, **options)
    from brainscore_core.benchmarks import score_benchmark
    if args.layers:
        return _score_every_region(model, benchmark, args)
    score = score_benchmark(benchmark, model)
    record = ScoreRecord.from_score(score, model.identifier, args.benchmark, benchmark)
    own = f' (its own subject {record.matched_subject} only)' if record.matched_subject else ''
    print(printable(f'{record.model} on {record.benchmark}{own}: {record.score:.4f}'))
    write_json(args.json, record.to_json())
    if args.plot:
        from ..figures import draw_time_courses
        from ..statistics import compare_time_courses, time_courses
        draw_time_courses(compare_time_courses(time_courses([record])), args.plot)
        print(f'wrote {args.plot}')


def matched_option(args) -> dict:
    """--matched as the EEG benchmarks' ``matched_subject``: the subject the model's name says it
    was aligned with ({} without --matched); a model of no subject, or a benchmark not of EEG, is refused."""
    if not args.matched:
        return {}
    subject = eeg_subject(args.model)
    if subject is None:
        raise RealnetError(f'--matched scores a personal EEG model (a name ending -sNN, e.g. realnet-s01) on its own '
                           f'subject; {args.model} was aligned with no THINGS-EEG2 subject')
    if args.benchmark is not None and our_kind(args.benchmark, args.data)[0] != Kind.EEG:
        raise RealnetError(f'--matched concerns the EEG benchmarks (Gifford2022.*-temporal_rsa); {args.benchmark} '
                           'is not one')
    if args.data is None:
        subject_name(subject)  # 1-10, else one line before the model loads
    return {'matched_subject': subject}


def _check_outputs(args, options):
    """Where `score` will write, checked before the model loads: --json and --plot (a file, or for
    the suite a folder of figures; neither replaces a file without --force) and $REALNET_HOME
    when it receives weights or EEG RDMs."""
    from ..files import outside_inputs, output_file, writable_folder
    from ..figures import SUITE_FIGURES
    inputs = score_inputs(args)
    if args.json:
        output_file(args.json, inputs, force=args.force)
    eeg = args.benchmark is None or our_kind(args.benchmark, args.data)[0] == Kind.EEG
    if args.plot and not eeg:  # refused before minutes of scoring, not after
        raise RealnetError(f'--plot draws temporal RSA time courses; {args.benchmark} has none (brainscore report '
                           'draws Shen 2019 scores from --json files)')
    if args.plot and args.benchmark is None:  # the suite's figures go into a folder
        folder = writable_folder(outside_inputs(args.plot, inputs, '--plot folder'))
        for name in SUITE_FIGURES.values():
            output_file(folder / name, inputs, force=args.force)
    elif args.plot:
        output_file(args.plot, inputs, force=args.force)
    downloads = args.weights is None and args.model in WEIGHTS and not cached_path(args.model).is_file()
    if downloads or (eeg and options['method'] in (None, 'decoding')):  # decoding RDMs are kept there
        writable_folder(realnet_home())


def score_inputs(args) -> list:
    """Every path `score` reads: the weights file (or the published weights' cached copy) and the
    data folders, those set by environment variables included; no output may be one or lie inside one."""
    from ..data import data_folder
    weights = args.weights or (cached_path(args.model) if args.model in WEIGHTS else None)
    return [weights, data_folder('things_eeg2', args.things_eeg2), data_folder('shen2019', args.shen2019),
            *card_inputs(args.data)]


def _score_suite(model, args, options):
    """Every benchmark of the paper's evaluation; exit 0 when at least one ran, 2 when none could."""
    from ..suite import run_suite
    print(printable(f'{model.identifier}: the ReAlnet suite'))
    results = run_suite(model, things_eeg2=args.things_eeg2, shen2019=args.shen2019,
                        on_result=lambda result: print(printable(with_flags(result.line())), flush=True), **options)
    records = [result.record for result in results if result.record is not None]
    write_json(args.json, [result.to_json() for result in results])
    if args.plot and records:
        from ..report import suite_figures
        for figure in suite_figures(records, args.plot):
            print(f'wrote {figure}')
    if not records:
        raise RealnetError('no benchmark could run here (each is listed as unavailable above)')
    return 0


def _score_every_region(model, benchmark, args):
    """The benchmark with each model region in turn: one row of the paper's layer × ROI table."""
    if not hasattr(benchmark, 'region'):
        raise RealnetError(f'--layers all needs one of our benchmarks; {args.benchmark} fixes its own layers')
    from brainscore_core.benchmarks import score_benchmark
    records = {}
    for region in REGION_LAYER_MAP:
        benchmark.region = region
        score = score_benchmark(benchmark, model)
        records[region] = ScoreRecord.from_score(score, model.identifier, args.benchmark, benchmark)
        print(printable(f'{model.identifier} on {args.benchmark}, region {region}: {records[region].score:.4f}'))
    write_json(args.json, {'regions': {region: record.to_json() for region, record in records.items()}})
