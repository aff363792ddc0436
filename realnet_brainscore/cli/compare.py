"""`brainscore compare`: several models on the suite, with statistics and a report."""
import sys
from dataclasses import replace
from pathlib import Path

from ..data import data_folder
from ..data.things_eeg2 import HOSTED_PAPER
from ..errors import RealnetError, printable
from ..files import outside_inputs
from ..identifiers import CORNET, eeg_subject
from ..neurora_cluster import CLUSTER_TESTS  # numpy only: the CLI starts without torch
from .options import (MODEL_SPECS, add_batch_size, add_benchmark_options, add_data_folders, benchmark_options,
                      card_inputs, command, with_flags)

DESCRIPTION = ('Score each model on the suite (scores kept in OUT/scores/ and reused while weights, data folders and '
               'benchmark settings stay the same; delete them to rescore), test the other models against the '
               'baseline (EEG: cluster-based permutation test across subjects; fMRI and behaviour: t-tests per '
               'benchmark) and write OUT/report.md with eeg_time_courses.png (Figure 1B), fmri_rois.png (1C), '
               'behaviour.png (1D) and matched_subjects.png (ReAlnet k on subject k against the other subjects), '
               'as far as the data present allow.')
PAPER_HELP = ("Figure 1B/C as the authors computed them: --screen whole, --rdm decoding and, with the OSF release "
              "(--things-eeg2 or $REALNET_THINGS_EEG2), --eeg-form raw (Brain-Score's hosted copy is standardised "
              "only: then standardised, said in one line), and the EEG figure and its cluster test restricted to "
              "-100 … 490 ms (time points 10-69 of the epoch, the authors' analysis range; the scores' window is "
              "unchanged), tested with NeuroRA's cluster test (--cluster-test neurora), with each personal EEG model "
              "(a name ending -sNN) compared with its own subject only (the paper's ReAlnet k with subject k; the "
              "baseline with every subject). An explicit --screen, --rdm, "
              "--eeg-form or --cluster-test overrides its value (e.g. --rdm correlation, much faster); report.md and "
              "comparison.json state the settings used")
CLUSTER_TEST_HELP = ("the EEG cluster test's null: mne (default: sign flips of whole subjects' difference time courses, "
                     "1024 permutations) or neurora (the authors' NeuroRA 1.1.6.12 test: values shuffled independently "
                     "at each time point inside the clusters, 1000 permutations; the default under --paper)")


def add_parsers(commands):
    parser = command(commands, 'compare', run, help='several models on the suite, with statistics and a report',
                     description=DESCRIPTION)
    parser.add_argument('--models', nargs='+', required=True, metavar='SPEC', help=MODEL_SPECS)
    parser.add_argument('--baseline', metavar='MODEL', help='what the others are tested against (default: cornet-s '
                                                            'when compared, else the first model)')
    parser.add_argument('--out', required=True, metavar='DIR', help='report, figures and kept scores')
    parser.add_argument('--benchmarks', nargs='+', metavar='BENCH', help='only these (default: the whole suite)')
    parser.add_argument('--no-behaviour', action='store_true', help="leave out Brain-Score's behavioural benchmarks")
    add_data_folders(parser)
    add_benchmark_options(parser)
    parser.add_argument('--paper', action='store_true', help=PAPER_HELP)
    parser.add_argument('--cluster-test', choices=CLUSTER_TESTS, help=CLUSTER_TEST_HELP)
    add_batch_size(parser)


def run(args):
    from .. import report, score_store
    from ..suite import suite_benchmarks
    options = benchmark_options(args, paper=_paper_options(args) if args.paper else None)
    candidates = score_store.candidates(args.models)
    baseline = _baseline(args, [c.name for c in candidates])
    inputs = [*score_store.inputs_of(candidates, args.things_eeg2, args.shen2019), *card_inputs(args.data)]
    # before any scoring: a file, an unwritable place, another's report, or a place where a report
    # file or a kept score file would replace a weights file or a data file
    report.report_folder(args.out, inputs)
    for candidate in candidates:
        outside_inputs(score_store.score_path(Path(args.out) / 'scores', candidate), inputs, '`out`')
    if args.paper and args.eeg_form is None and _hosted(args):  # after the checks: bad input stays one line
        print(printable(with_flags(HOSTED_PAPER)), file=sys.stderr, flush=True)
    benchmarks = args.benchmarks or suite_benchmarks(behaviour=not args.no_behaviour, data=args.data)
    # --paper: each personal EEG model on its own subject, as the paper; the baseline on every subject
    matched = [c.name for c in candidates if args.paper and c.name != baseline and eeg_subject(c.name) is not None]
    results = score_store.score_models(candidates, Path(args.out) / 'scores', benchmarks, things_eeg2=args.things_eeg2,
                                       shen2019=args.shen2019, batch_size=args.batch_size, options=options,
                                       say=lambda line: print(printable(with_flags(line))), matched=matched)
    # the report names what a user of this command can change: its flags
    results = {name: [replace(result, unavailable=with_flags(result.unavailable)) if result.unavailable else result
                      for result in entries] for name, entries in results.items()}
    records = score_store.records_by_model(results)
    if not any(records.values()):
        raise RealnetError('no model could be scored on any benchmark here (see the unavailable lines above)')
    print(report.comparison_table(records))
    time_range = report.PAPER_TIME_RANGE if args.paper else None
    cluster_test = args.cluster_test or ('neurora' if args.paper else 'mne')
    written = report.write_report(args.out, results, baseline, time_range=time_range, cluster_test=cluster_test)
    print(f'the report is {written}')


def _hosted(args) -> bool:
    """Whether the EEG benchmarks read Brain-Score's hosted THINGS-EEG2 (no OSF folder, no data-set card given)."""
    return args.data is None and data_folder('things_eeg2', args.things_eeg2) is None


def _paper_options(args) -> dict:
    """What --paper implies: the authors' screen and RDMs, and their EEG form, raw, where the OSF
    release is given; the hosted copy is standardised only (run says so in one line, HOSTED_PAPER,
    unless an explicit --eeg-form chose the form)."""
    from .. import report
    return {**report.PAPER_OPTIONS, 'eeg_form': 'standardised' if _hosted(args) else 'raw'}


def _baseline(args, names: list[str]) -> str:
    baseline = args.baseline or (CORNET if CORNET in names else names[0])
    if baseline not in names:
        raise RealnetError(f'--baseline {baseline} is not among --models ({", ".join(names)})')
    return baseline
