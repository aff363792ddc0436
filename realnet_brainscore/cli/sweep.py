"""`brainscore sweep run|status|report`: a grid of `train` runs, each scored, through submitit."""
import argparse

from ..errors import RealnetError, printable
from .options import command

RUN_DESCRIPTION = """\
Train one model per cell of a grid (subjects x backbones x recipes x beta x seeds x data sets, any of
them fixed) and score each cell's best checkpoint on a list of benchmarks. SWEEP.toml has the tables
[train] (options every cell shares) and [grid] (lists of values), keyed by train's long option names
(beta, backbone, image_size, subject, things_eeg2, ...), [score] (benchmarks = [...] and rdm, screen,
eeg_form, bootstrap, batch_size, matched, transfer) and [executor] (name = "local", "slurm" or "debug",
and its settings; see docs/sweeps.md). Each cell is DIR/cells/<cell>/: settings.json, status.json,
run/ (train's run folder) and scores/. A re-run of the same sweep into DIR leaves finished and running
cells alone and runs the others again: failed ones are retried and interrupted ones resume from their
last.pt. local and debug wait for the cells; slurm submits one job array and returns (follow it with
brainscore sweep status DIR). Needs submitit: pip install 'realnet-brainscore[sweep]'."""
EXECUTOR_HELP = ('local: processes of this machine, one at a time or [executor] parallel at once; slurm: one job '
                 'array (partition, GPUs, CPUs, memory, time limit, array parallelism from [executor]); debug: in '
                 'this process, one cell after another. Default: [executor] name, else local')


def add_parsers(commands):
    parser = command(commands, 'sweep', _missing_action, help='a grid of train runs, each scored, on this machine '
                     'or a SLURM cluster', description='Sweeps: run a grid of train runs with their scoring '
                     '(sweep run), see where each cell stands (sweep status), tabulate and draw the scores '
                     '(sweep report).')
    actions = parser.add_subparsers(title='actions', metavar='ACTION')
    run = command(actions, 'run', _run, help='run or submit the cells not yet done', description=RUN_DESCRIPTION,
                  formatter_class=argparse.RawDescriptionHelpFormatter)
    run.add_argument('sweep', metavar='SWEEP.toml')
    run.add_argument('--out', required=True, metavar='DIR', help="the sweep's folder (a re-run of the same sweep "
                                                                 'continues it)')
    run.add_argument('--executor', choices=['local', 'slurm', 'debug'], help=EXECUTOR_HELP)
    status = command(actions, 'status', _status, help='each cell: done, running, failed (why) or pending',
                     description='List the cells of the sweep in DIR as done (with their scores), running (where), '
                                 'failed (the failure in one line; a job killed or preempted counts as failed until '
                                 'it is requeued or the sweep re-run) or pending (not started).')
    status.add_argument('directory', metavar='DIR')
    report = command(actions, 'report', _report, help='one table and figures of every cell x benchmark',
                     description='Write DIR/report/ (or --out): scores.csv and scores.json (every cell x benchmark '
                                 'with the settings that produced it), scores.png (score against each varied '
                                 'setting), and, when the cells were scored on every subject, transfer.csv, '
                                 'transfer.json and transfer.png (personal models x subjects).')
    report.add_argument('directory', metavar='DIR')
    report.add_argument('--out', metavar='REPORT', help='where to write (default DIR/report)')


def _missing_action(args):
    raise RealnetError('sweep needs an action: run, status or report (see brainscore sweep --help)')


def _run(args):
    from ..sweep.runner import run_sweep
    outcomes = run_sweep(args.sweep, args.out, executor=args.executor,
                         say=lambda line: print(printable(line), flush=True))
    failed = [cell for cell, outcome in outcomes.items() if outcome == 'failed']
    if failed:
        raise RealnetError(f'{len(failed)} of {len(outcomes)} cells failed (brainscore sweep status {args.out} '
                           'says why); a re-run retries them')
    return 0


def _status(args):
    from ..sweep.runner import read_plan
    from ..sweep.status import STATES, sweep_states
    read_plan(args.directory)
    states = sweep_states(args.directory)
    width = max((len(cell) for cell in states), default=4)
    for cell, (state, line) in states.items():
        print(printable(f'{cell:{width}}  {state:7}  {line}'))
    counts = [f'{sum(s == state for s, _ in states.values())} {state}' for state in STATES]
    print(f'{len(states)} cells: {", ".join(counts)}')
    return 0


def _report(args):
    from ..sweep.report import write_sweep_report
    for path in write_sweep_report(args.directory, args.out):
        print(f'wrote {path}')
    return 0
