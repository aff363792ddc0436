"""The ``brainscore`` command: models, weights and scores of ReAlnet in Brain-Score."""
import argparse
import contextlib
import json
import os
import sys
import traceback
import warnings
from pathlib import Path

from . import __version__, models, plugin
from . import weights as weight_table
from .errors import RealnetError, first_line
from .files import atomic_path
from .suite import load_benchmark, score_record


def cmd_models(args):
    for identifier in models.list_models():
        print(f'{identifier:12}  {weight_table.WEIGHTS[identifier].description}')


def cmd_weights_list(args):
    print(f'weights folder: {weight_table.weights_dir()}')
    for identifier in models.list_models():
        print(f'{identifier:12}  {weight_table.status(identifier):13}  {weight_table.cached_path(identifier).name}')


def cmd_weights_fetch(args):
    identifiers = models.list_models() if args.all else args.identifiers
    if not identifiers:
        raise RealnetError('name the models to fetch, or pass --all')
    for identifier in identifiers:
        print(f'{identifier}: {weight_table.resolve(identifier, progress=not args.quiet)}')


def cmd_weights_import(args):
    path = weight_table.import_file(args.identifier, args.file)
    print(f'{args.identifier}: verified and placed at {path}')


def cmd_benchmarks(args):
    for identifier in plugin.list_benchmarks():
        print(identifier)
    print("(and every benchmark of Brain-Score's own, e.g. MajajHong2015public.IT-pls)")


def cmd_score(args):
    options = _benchmark_options(args)  # first: a bad value fails before the model loads
    _check_score_outputs(args, options)
    model = models.load_model(args.model, weights=args.weights, batch_size=args.batch_size)
    if args.benchmark is None:
        return _score_suite(model, args, options)
    benchmark = load_benchmark(args.benchmark, things_eeg2=args.things_eeg2, shen2019=args.shen2019,
                               drop_nan_voxels=args.drop_nan_voxels or None, **options)
    from brainscore_core.benchmarks import score_benchmark
    if args.layers:
        return _score_every_region(model, benchmark, args)
    score = score_benchmark(benchmark, model)
    record = score_record(score, model.identifier, args.benchmark)
    print(f'{record["model"]} on {record["benchmark"]}: {record["score"]:.4f}')
    _write_json(args.json, record)
    if args.plot:
        from .report import plot_temporal_rsa
        plot_temporal_rsa([record], args.plot)
        print(f'wrote {args.plot}')


def _check_score_outputs(args, options):
    """Where `score` will write, checked before the model loads: --json and --plot (a file, or for
    the suite a folder of figures; neither replaces a file without --force) and $REALNET_HOME
    when it receives weights or EEG RDMs."""
    from .files import output_file, writable_folder
    from .report import SUITE_FIGURES
    inputs = [args.weights] if args.weights else []
    if args.json:
        output_file(args.json, inputs, force=args.force)
    if args.plot and args.benchmark is None:  # the suite's figures go into a folder
        folder = writable_folder(args.plot)
        for name in SUITE_FIGURES.values():
            output_file(folder / name, inputs, force=args.force)
    elif args.plot:
        output_file(args.plot, inputs, force=args.force)
    downloads = args.weights is None and not weight_table.cached_path(args.model).is_file()
    eeg = args.benchmark is None or args.benchmark.endswith('-temporal_rsa')
    if downloads or (eeg and options['method'] in (None, 'decoding')):  # decoding RDMs are kept there
        writable_folder(weight_table.realnet_home())


def cmd_plugins(args):
    from . import submission
    if args.action == 'install':
        for folder in submission.install(args.brainscore_vision):
            print(f'placed {folder}')
    else:
        for line in submission.uninstall(args.brainscore_vision):
            print(line)


def cmd_submission(args):
    from . import submission
    if args.words:
        if len(args.words) != 2 or args.words[0] != 'check':
            raise RealnetError(f'unknown submission words {" ".join(args.words)!r}: use `brainscore submission check ZIP`')
        problems = submission.check(args.words[1])
        for problem in problems:
            print(f'{args.words[1]}: {problem}', file=sys.stderr)
        if problems:
            return 2
        print(f'{args.words[1]}: passes every website rule this package knows')
        return 0
    if not args.out or not (args.model or args.benchmarks):
        raise RealnetError('give --model MODEL (or --benchmarks) and --out DIR|ZIP, or `check ZIP`')
    out = (submission.export_benchmarks(args.out, args.force) if args.benchmarks
           else submission.export_model(args.model, args.out, args.weights, args.weights_url, args.force))
    print(f'wrote {out}')


def cmd_compare(args):
    from . import compare
    from .suite import suite_benchmarks
    options = _benchmark_options(args, paper=compare.PAPER_OPTIONS if args.paper else None)
    candidates = [compare.candidate(text) for text in args.models]
    names = [c.name for c in candidates]
    if len(set(names)) < len(names):
        raise RealnetError(f'each model once, please: {" ".join(args.models)}')
    baseline = args.baseline or ('cornet-s' if 'cornet-s' in names else names[0])
    if baseline not in names:
        raise RealnetError(f'--baseline {baseline} is not among --models ({", ".join(names)})')
    from .files import writable_folder
    writable_folder(args.out)  # before any scoring: a file or an unwritable place is refused at once
    benchmarks = args.benchmarks or suite_benchmarks(behaviour=not args.no_behaviour)
    results = compare.score_models(candidates, Path(args.out) / 'scores', benchmarks, things_eeg2=args.things_eeg2,
                                   shen2019=args.shen2019, batch_size=args.batch_size, options=options)
    records = compare.records_by_model(results)
    if not any(records.values()):
        raise RealnetError('no model could be scored on any benchmark here (see the unavailable lines above)')
    print(compare.comparison_table(records))
    time_range = compare.PAPER_TIME_RANGE if args.paper else None
    print(f'the report is {compare.write_report(args.out, results, baseline, time_range=time_range)}')


def _benchmark_options(args, paper: dict | None = None) -> dict:
    """--screen and --rdm as benchmark options (None: each benchmark's default), checked before any
    work; ``paper``: the options --paper implies, for those not given explicitly (an explicit flag
    wins, e.g. --rdm correlation when decoding RDMs would take too long; the report says what ran)."""
    from .recording import check_screen
    from .rsa import EEG_RDM_METHODS
    if args.screen is not None:
        check_screen(args.screen)
    if args.rdm is not None and args.rdm not in EEG_RDM_METHODS:
        raise RealnetError(f"unknown --rdm {args.rdm!r}: choose {', '.join(EEG_RDM_METHODS)}")
    given = {'screen': args.screen, 'method': args.rdm}
    return {option: given[option] or (paper or {}).get(option) for option in given}


def cmd_demo(args):
    from .demo import run_demo
    from .files import writable_folder
    out = writable_folder(args.out)
    if out.exists() and any(out.iterdir()):
        raise RealnetError(f'{out} exists and is not empty; choose a new --out')
    run_demo(out)


def _score_suite(model, args, options):
    """Every benchmark of the paper's evaluation; exit 0 when at least one ran, 2 when none could."""
    from .suite import format_result, run_suite
    print(f'{model.identifier}: the ReAlnet suite')
    results = run_suite(model, things_eeg2=args.things_eeg2, shen2019=args.shen2019,
                        on_result=lambda result: print(format_result(result), flush=True), **options)
    records = [r['record'] for r in results if 'record' in r]
    _write_json(args.json, results)
    if args.plot and records:
        from .report import plot_figures
        for figure in plot_figures(records, args.plot):
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
    for region in models.REGION_LAYER_MAP:
        benchmark.region = region
        records[region] = score_record(score_benchmark(benchmark, model), model.identifier, args.benchmark)
        print(f'{model.identifier} on {args.benchmark}, region {region}: {records[region]["score"]:.4f}')
    _write_json(args.json, {'regions': records})


def _write_json(path, content):
    """``--json OUT``, written atomically; nothing when the option was not given."""
    if path:
        with atomic_path(path) as partial:
            partial.write_text(json.dumps(content, indent=2) + '\n')
        print(f'wrote {path}')


def cmd_report(args):
    from .files import output_file
    from .report import EEG_REGION, SHEN_ROI, plot_roi_rsa, plot_temporal_rsa, read_score_record
    output_file(args.out, inputs=args.scores, force=args.force)
    records = [read_score_record(file) for file in args.scores]
    kinds = ['fMRI' if SHEN_ROI.match(r['benchmark']) else 'EEG' if EEG_REGION.search(r['benchmark']) else None
             for r in records]
    for file, record, kind in zip(args.scores, records, kinds):
        if kind is None:
            raise RealnetError(f"{file}: {record['benchmark']} is neither a temporal RSA nor a Shen 2019 ROI "
                               'benchmark, the scores report draws')
        if kind != kinds[0]:
            raise RealnetError(f'{file}: an {kind} score among {kinds[0]} ones; draw each kind in its own report')
    absent = [name for name in args.pair or () if name not in {r['model'] for r in records}]
    if absent:
        raise RealnetError(f'--pair {absent[0]}: no score file of that model among --scores')
    if kinds[0] == 'fMRI':
        for roi, p in plot_roi_rsa(records, args.out, baseline=args.pair[1] if args.pair else None).items():
            print(f'{roi}: p = {p:.3g}')
        print(f'wrote {args.out}')
        return
    significant = plot_temporal_rsa(records, args.out, pair=args.pair)
    for region, times in significant.items():
        if len(times):
            print(f'{region}: the pair differs at {times.min() * 1000:.0f}-{times.max() * 1000:.0f} ms '
                  f'({len(times)} time points in significant clusters)')
    print(f'wrote {args.out}')


def cmd_synth(args):
    from .synthetic import Design, write_things_eeg2
    design = Design(subjects=args.subjects, concepts=args.concepts, images_per_concept=args.images_per_concept,
                    test_images=args.test_images, image_size=args.image_size, noise=args.noise, seed=args.seed)
    out = write_things_eeg2(args.out, design)
    print(f'wrote an in-silico THINGS-EEG2 release ({design.subjects} subjects, '
          f'{design.concepts * design.images_per_concept} training and {design.test_images} test images) to {out}')


def cmd_train(args):
    from .training import TrainConfig, train
    subjects = args.subjects or [args.subject]
    for subject in subjects:
        config = TrainConfig(
            things_eeg2=Path(args.things_eeg2), subject=subject, out=Path(args.out),
            cornet_weights=Path(args.cornet_weights) if args.cornet_weights else None, epochs=args.epochs,
            batch_size=args.batch_size, lr=args.lr, beta=args.beta, seed=args.seed, window=tuple(args.window),
            channels=tuple(args.channels) if args.channels else None, recipe=args.recipe,
            classification=args.classification, correlation_gradient=args.correlation_gradient, zscore=args.zscore,
            select_on=args.select_on, validation_fraction=args.validation_fraction, image_size=args.image_size,
            device=args.device, compile=args.compile, workers=args.workers, resume=args.resume, progress=not args.quiet)
        summary = train(config, on_epoch_end=None if args.quiet else _print_epoch)
        if summary:
            print(f'sub-{subject:02d}: best epoch {summary["best_epoch"]} ({args.select_on} loss '
                  f'{summary["best_val_loss"]:.4f}) -> {summary["best_checkpoint"]}')


TRAIN_RECIPES = """\
recipes (--recipe; a flag given explicitly overrides the recipe's value):
  paper     (default) the authors' notebook: cross-entropy against the frozen teacher's argmax
            (--classification hard); generation loss MSE + (1 - mean matched r + mean unmatched r)
            with the correlation part logged but carrying no gradient (--no-correlation-gradient),
            so the objective is CE + beta*MSE; EEG targets z-scored with one mean and one SD per
            subject (--zscore subject)
  improved  teacher probabilities (--classification soft), differentiable correlation part
            (--correlation-gradient), per-feature z-score over the training part (--zscore feature)
both: Adam lr 2e-5, batch 16, 30 epochs, beta 100, seed 2023, ImageNet CORnet-S start; the
checkpoint records the resolved settings and the recipe, and --resume must match them.
model selection: --select-on validation (default) keeps the epoch with the lowest loss on held-out
training images; --select-on test selects on the test images as the authors did."""


def _print_epoch(record):
    print(f'epoch {record["epoch"]}: train loss {record["train_loss"]:.4f} (cls {record["train_cls"]:.4f}, '
          f'gen {record["train_gen"]:.4f}, r {record["train_matched_r"]:.3f}) | validation loss '
          f'{record["val_loss"]:.4f} (r {record["val_matched_r"]:.3f}) | {record["images_per_second"]:.0f} img/s',
          flush=True)


def _subject_range(text: str) -> list[int]:
    try:
        subjects = []
        for part in text.split(','):
            first, dash, last = part.partition('-')
            subjects += list(range(int(first), int(last if dash else first) + 1))
    except ValueError:
        raise argparse.ArgumentTypeError(f'expected subjects like 1-10 or 1,3,5, got {text!r}') from None
    if not subjects or not all(1 <= s <= 10 for s in subjects):
        raise argparse.ArgumentTypeError(f'subjects are 1 to 10, got {text!r}')
    return subjects


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f'expected a positive whole number, got {text!r}')
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument('-v', '--verbose', action='store_true', help='show tracebacks of errors')
    common.add_argument('-q', '--quiet', action='store_true', help='no progress bars')

    parser = argparse.ArgumentParser(
        prog='brainscore', description='ReAlnet (CORnet-S aligned with human EEG) in Brain-Score.',
        epilog='Weights are cached in $REALNET_HOME/weights (default ~/.realnet/weights); '
               'REALNET_OFFLINE=1 disables downloads.')
    parser.add_argument('--version', action='version', version=f'realnet-brainscore {__version__}')
    commands = parser.add_subparsers(title='commands', required=True, metavar='COMMAND')

    sub = commands.add_parser('models', parents=[common], help='list the model identifiers',
                              description='List the model identifiers this package registers.')
    sub.set_defaults(run=cmd_models)

    weights = commands.add_parser('weights', help='list, fetch or import weight files',
                                  description='Manage the cached, hash-verified weight files.')
    weight_commands = weights.add_subparsers(title='weights commands', required=True, metavar='ACTION')
    sub = weight_commands.add_parser('list', parents=[common], help='each model and its weight file status',
                                     description='Show each model and whether its weight file is '
                                                 'present and verified.')
    sub.set_defaults(run=cmd_weights_list)
    sub = weight_commands.add_parser('fetch', parents=[common], help='download and verify weight files',
                                     description='Download weight files into the cache and verify them.')
    sub.add_argument('identifiers', nargs='*', metavar='MODEL', help='models whose weights to fetch')
    sub.add_argument('--all', action='store_true', help='fetch the weights of every model')
    sub.set_defaults(run=cmd_weights_fetch)
    sub = weight_commands.add_parser('import', parents=[common], help='verify a downloaded file and cache it',
                                     description='Verify a weight file downloaded elsewhere against the '
                                                 'published hash and place it in the cache.')
    sub.add_argument('identifier', metavar='MODEL')
    sub.add_argument('file', metavar='FILE')
    sub.set_defaults(run=cmd_weights_import)

    sub = commands.add_parser('demo', parents=[common], help='the method end to end on in-silico subjects, offline',
                              description='Generate in-silico THINGS-EEG2 and Shen 2019 data, align two subjects\' '
                                          'ReAlnets from a baseline CORnet-S on the CPU, score all three on the EEG '
                                          'and fMRI benchmarks, print the comparison and write a report with figures '
                                          'and statistics (about two and a half minutes on two cores).')
    sub.add_argument('--out', default='realnet-demo', metavar='DIR', help='where everything goes (realnet-demo)')
    sub.set_defaults(run=cmd_demo)

    sub = commands.add_parser('synth', parents=[common], help='write in-silico subjects in the THINGS-EEG2 format',
                              description='Write a miniature THINGS-EEG2 release (images, image_metadata.npy, '
                                          'preprocessed EEG per subject) generated from a hidden model brain.')
    sub.add_argument('--out', required=True, metavar='DIR')
    sub.add_argument('--subjects', type=_positive, default=2, metavar='N')
    sub.add_argument('--concepts', type=_positive, default=40, metavar='N', help='training concepts (default 40)')
    sub.add_argument('--images-per-concept', type=_positive, default=5, metavar='N')
    sub.add_argument('--test-images', type=_positive, default=20, metavar='N')
    sub.add_argument('--image-size', type=_positive, default=64, metavar='PX')
    sub.add_argument('--noise', type=float, default=2.0, help='single-trial noise sd relative to the signal (2)')
    sub.add_argument('--seed', type=int, default=0)
    sub.set_defaults(run=cmd_synth)

    sub = commands.add_parser('train', parents=[common], help='align CORnet-S with a subject\'s EEG',
                              formatter_class=argparse.RawDescriptionHelpFormatter,
                              description='Fine-tune CORnet-S to generate a THINGS-EEG2 subject\'s EEG while '
                                          'classifying like its frozen copy;\nwrites RUNDIR/sub-XX/{last,best}.pt, '
                                          'log.jsonl and summary.json.\n\n' + TRAIN_RECIPES)
    who = sub.add_mutually_exclusive_group(required=True)
    who.add_argument('--subject', type=int, choices=range(1, 11), metavar='N', help='one subject, 1-10')
    who.add_argument('--subjects', type=_subject_range, metavar='LIST', help='several, e.g. 1-10 or 1,3')
    sub.add_argument('--things-eeg2', required=True, metavar='DIR', help='THINGS-EEG2 folder (OSF layout)')
    sub.add_argument('--out', required=True, metavar='RUNDIR')
    sub.add_argument('--cornet-weights', metavar='FILE', help='start from this CORnet-S (default: ImageNet release)')
    sub.add_argument('--epochs', type=_positive, default=30, metavar='N', help='epochs (30)')
    sub.add_argument('--batch-size', type=_positive, default=16, metavar='N', help='images per step (16)')
    sub.add_argument('--lr', type=float, default=2e-5, help='Adam learning rate (2e-5)')
    sub.add_argument('--beta', type=float, default=100.0, help='weight of the EEG generation loss (100)')
    sub.add_argument('--seed', type=int, default=2023, help='seed of the head, split and data order (2023)')
    sub.add_argument('--window', type=float, nargs=2, default=(0.0, 0.2), metavar=('START', 'END'),
                     help='EEG window in seconds (default 0 0.2: 20 samples)')
    sub.add_argument('--channels', nargs='+', metavar='CH', help='EEG channels (default: all 17)')
    sub.add_argument('--recipe', choices=['paper', 'improved'], default='paper',
                     help="paper: the authors' notebook (default); improved: this package's variant (see above)")
    sub.add_argument('--classification', choices=['soft', 'hard', 'mse'],
                     help="agreement with the frozen teacher: its probabilities (soft), argmax (hard) or logits "
                          "(mse); overrides the recipe (paper: hard, improved: soft)")
    sub.add_argument('--correlation-gradient', action=argparse.BooleanOptionalAction,
                     help='whether the correlation part of the generation loss trains the network (it is logged '
                          'either way); overrides the recipe (paper: no, improved: yes)')
    sub.add_argument('--zscore', choices=['subject', 'feature'],
                     help='EEG targets z-scored with one mean and SD per subject (over all its training images) '
                          'or per feature (over the training part); overrides the recipe (paper: subject, '
                          'improved: feature)')
    sub.add_argument('--select-on', choices=['validation', 'test'], default='validation',
                     help='the epoch kept as best.pt has the lowest loss on: a held-out part of the training '
                          'images (validation, default) or, as the authors did, the test images, the evaluation '
                          'set (test: trains on every training image and warns)')
    sub.add_argument('--validation-fraction', type=float, default=0.1, metavar='F',
                     help='training images held out for model selection (0.1; unused with --select-on test)')
    sub.add_argument('--image-size', type=_positive, default=224, metavar='PX')
    sub.add_argument('--device', help='cuda, cuda:1, cpu (default: cuda if available)')
    sub.add_argument('--compile', choices=['none', 'default', 'reduce-overhead'], default='none',
                     help='torch.compile the model; reduce-overhead uses CUDA graphs (small batches)')
    sub.add_argument('--workers', type=_positive, metavar='N', help='processes decoding images for the cache')
    sub.add_argument('--resume', action='store_true', help='continue the run in RUNDIR from its last epoch')
    sub.set_defaults(run=cmd_train)

    sub = commands.add_parser('benchmarks', parents=[common], help="list this package's benchmarks",
                              description="List this package's Brain-Score benchmarks.")
    sub.set_defaults(run=cmd_benchmarks)

    sub = commands.add_parser('score', parents=[common], help='score a model on a benchmark, or on the whole suite',
                              description='Score a model on one of our benchmarks (`brainscore benchmarks`) or any '
                                          'benchmark brainscore_vision.load_benchmark knows, e.g. '
                                          'MajajHong2015public.IT-pls; without --benchmark, on the whole suite.')
    sub.add_argument('--model', required=True, metavar='MODEL', help='model identifier (see `brainscore models`)')
    sub.add_argument('--benchmark', metavar='BENCH',
                     help='benchmark identifier; without it, the whole suite: every EEG region, every fMRI ROI and '
                          "Brain-Score's behavioural benchmarks (what cannot run here is listed as unavailable)")
    sub.add_argument('--weights', metavar='FILE',
                     help="use this checkpoint instead of the published weights (identifier gets '+<hash>')")
    sub.add_argument('--things-eeg2', metavar='DIR',
                     help='THINGS-EEG2 folder for our EEG benchmarks (default $REALNET_THINGS_EEG2, '
                          "else Brain-Score's Gifford2022_test)")
    sub.add_argument('--shen2019', metavar='DIR', help='Shen 2019 folder for our fMRI benchmarks '
                                                         '(default $REALNET_SHEN2019)')
    sub.add_argument('--drop-nan-voxels', action='store_true',
                     help='leave out fMRI voxels with NaN values instead of refusing the data')
    sub.add_argument('--layers', choices=['all'],
                     help='score the benchmark with every model region (V1 V2 V4 IT) instead of its own')
    sub.add_argument('--batch-size', type=_positive, default=64, metavar='N',
                     help='images per forward pass (default 64; Brain-Score pads the last batch to N)')
    _add_option_flags(sub)
    sub.add_argument('--json', metavar='OUT', help='also write the score and its attributes as JSON')
    sub.add_argument('--plot', metavar='PNG|DIR',
                     help='also draw the time course (one temporal RSA benchmark: a PNG; the suite: a folder)')
    sub.add_argument('--force', action='store_true', help='replace existing --json and --plot files')
    sub.set_defaults(run=cmd_score)

    sub = commands.add_parser('compare', parents=[common], help='several models on the suite, with statistics and '
                                                                'a report',
                              description='Score each model on the suite (scores kept in OUT/scores/ and reused while '
                                          'weights, data folders and benchmark settings stay the same; delete them '
                                          'to rescore), test the '
                                          'other models against the baseline (EEG: cluster-based permutation test '
                                          'across subjects; fMRI and behaviour: t-tests per benchmark) and write '
                                          'OUT/report.md with eeg_time_courses.png (Figure 1B), fmri_rois.png (1C), '
                                          'behaviour.png (1D) and matched_subjects.png (ReAlnet k on subject k '
                                          'against the other subjects), as far as the data present allow.')
    sub.add_argument('--models', nargs='+', required=True, metavar='MODEL[=FILE]',
                     help='e.g. cornet-s realnet-s01 … realnet-s10; MODEL=FILE scores your own checkpoint')
    sub.add_argument('--baseline', metavar='MODEL', help='what the others are tested against (default: cornet-s '
                                                         'when compared, else the first model)')
    sub.add_argument('--out', required=True, metavar='DIR', help='report, figures and kept scores')
    sub.add_argument('--benchmarks', nargs='+', metavar='BENCH', help='only these (default: the whole suite)')
    sub.add_argument('--no-behaviour', action='store_true', help="leave out Brain-Score's behavioural benchmarks")
    sub.add_argument('--things-eeg2', metavar='DIR', help='as for `score`')
    sub.add_argument('--shen2019', metavar='DIR', help='as for `score`')
    _add_option_flags(sub)
    sub.add_argument('--paper', action='store_true',
                     help="Figure 1B/C as the authors computed them: --screen whole and --rdm decoding, and the EEG "
                          "figure and its cluster test restricted to -100 … 490 ms (time points 10-69 of the epoch, "
                          "the authors' analysis range; the scores' window is unchanged). An explicit --screen or "
                          "--rdm overrides its value (e.g. --rdm correlation, much faster); report.md and "
                          "comparison.json state the settings used")
    sub.add_argument('--batch-size', type=_positive, default=64, metavar='N', help='images per forward pass (64)')
    sub.set_defaults(run=cmd_compare)

    sub = commands.add_parser('plugins', parents=[common], help="place or remove our plugins in brainscore_vision",
                              description="install: place this package's model plugin (realnet_s01 … realnet_s10) "
                                          "and benchmark plugins into the brainscore_vision package, where "
                                          "brainscore_vision.load_model/load_benchmark and `python -m "
                                          "brainscore_vision score` find them; uninstall: remove exactly the "
                                          "files install placed, unchanged since (each is recorded with its "
                                          "sha256 in $REALNET_HOME/installed-plugins.json); a file you added or "
                                          "edited stays, with a line saying so.")
    sub.add_argument('action', choices=['install', 'uninstall'])
    sub.add_argument('--brainscore-vision', metavar='DIR',
                     help='install: the brainscore_vision folder to install into (default: the installed one); '
                          'uninstall: only the installation in this folder (default: every installation recorded)')
    sub.set_defaults(run=cmd_plugins)

    sub = commands.add_parser('submission', parents=[common], help='leaderboard zips: export and check',
                              description='Export a Brain-Score website submission: `--model MODEL --out X.zip` '
                                          '(models/<id>/ with __init__, model, test, requirements; weights by URL '
                                          'and hash, never inside), `--benchmarks --out X.zip`; or `check ZIP` '
                                          'against the website rules.')
    sub.add_argument('words', nargs='*', metavar='check ZIP', help='check a zip against the website rules')
    sub.add_argument('--model', metavar='MODEL')
    sub.add_argument('--benchmarks', action='store_true', help="export this package's benchmark plugins")
    sub.add_argument('--weights', metavar='FILE', help='your own checkpoint (needs --weights-url)')
    sub.add_argument('--weights-url', metavar='URL', help='where the website can download --weights')
    sub.add_argument('--out', metavar='DIR|ZIP', help='a .zip (checked against the website rules before it is '
                                                     'written) or a new or empty folder')
    sub.add_argument('--force', action='store_true', help='replace an existing --out zip')
    sub.set_defaults(run=cmd_submission)

    sub = commands.add_parser('report', parents=[common], help='draw figures from score files',
                              description='From `brainscore score --json` files: EEG temporal RSA time courses '
                                          '(mean ± SEM over subjects, noise ceiling, cluster-significant '
                                          'differences of a model pair; one panel per region), or for Shen 2019 '
                                          'scores, bars per ROI for the baseline, dots for the other models and '
                                          'stars where a paired test finds them different.')
    sub.add_argument('--scores', nargs='+', required=True, metavar='JSON')
    sub.add_argument('--out', required=True, metavar='PNG')
    sub.add_argument('--force', action='store_true', help='replace an existing --out file')
    sub.add_argument('--pair', nargs=2, metavar='MODEL',
                     help='models to compare (default: the first two); for fMRI scores the second is the baseline')
    sub.set_defaults(run=cmd_report)
    return parser


def _add_option_flags(sub):
    """--screen and --rdm; values are checked by _benchmark_options (one line, exit 2), not argparse."""
    sub.add_argument('--screen', metavar='{brainscore,whole}',
                     help="how our EEG and fMRI benchmarks show the images: brainscore (default) places each at its "
                          "visual angle on the model's 8° field of view as Brain-Score does (THINGS-EEG2, 7°: shrunk "
                          "onto grey; Shen 2019, 12°: its central two thirds); whole feeds the whole image resized to "
                          "the model's input, as the authors did. Brain-Score's own benchmarks keep their own "
                          "screen (in the suite; named alone with --benchmark, they refuse the option)")
    sub.add_argument('--rdm', metavar='{decoding,correlation,crossvalidated}',
                     help="the EEG RDMs of the temporal RSA benchmarks: decoding (default) = pairwise linear-SVM "
                          "decoding accuracy, as the authors (minutes per subject the first time, then kept in "
                          "$REALNET_HOME/cache); correlation = 1 - Pearson r of repetition-averaged channel patterns "
                          "(seconds); crossvalidated = cross-validated squared Euclidean distance. "
                          "The other benchmarks go without it (in the suite; named alone with --benchmark, they "
                          "refuse it)")


@contextlib.contextmanager
def _progress_bars(shown: bool):
    """With ``shown`` False, every tqdm bar (Brain-Score's per-call ones included) is disabled
    for the duration, as TQDM_DISABLE=1 would do had it been set before tqdm was imported."""
    if shown:
        yield
        return
    import functools
    from tqdm import std
    original = std.tqdm.__init__
    std.tqdm.__init__ = functools.partialmethod(original, disable=True)
    try:
        yield
    finally:
        std.tqdm.__init__ = original


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    # Brain-Score otherwise pip-installs each plugin's requirements on every load.
    os.environ.setdefault('BS_INSTALL_DEPENDENCIES', 'no')
    # brainscore_core's Score class warns at import; it is not the user's concern.
    warnings.filterwarnings('ignore', message='xarray subclass .* __slots__', category=FutureWarning)
    warnings.filterwarnings('ignore', message="Pandas doesn't allow columns to be created", category=UserWarning)
    try:
        # -q silences Brain-Score's progress bars too; the demo prints its own steps instead.
        with _progress_bars(shown=not (args.quiet or args.run is cmd_demo)):
            return args.run(args) or 0
    except KeyboardInterrupt:
        print('brainscore: interrupted', file=sys.stderr)
        return 130
    except Exception as error:
        if args.verbose:
            traceback.print_exc()
        message = _user_error(error)
        if message is None:
            if not args.verbose:
                print(f'brainscore: unexpected {type(error).__name__}: {first_line(error)} '
                      '(rerun with -v for the traceback)', file=sys.stderr)
            return 1
        print(f'brainscore: error: {message}', file=sys.stderr)
        return 2


def _user_error(error: Exception) -> str | None:
    """The one line for a problem the user can fix (exit 2); None for an unexpected error (exit 1).
    An OSError naming a path is one: a file or folder they named, or $REALNET_HOME, that cannot be
    read or written."""
    if isinstance(error, RealnetError):
        return str(error)
    if isinstance(error, OSError) and error.filename is not None:
        return f'{error.filename}: {error.strerror or first_line(error)}'
    return None


if __name__ == '__main__':
    sys.exit(main())
