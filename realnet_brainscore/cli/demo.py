"""`brainscore demo`: the method end to end on in-silico subjects, offline."""
from .options import command


def add_parsers(commands):
    demo = command(commands, 'demo', run, help='the method end to end on in-silico subjects, offline',
                   description="Generate in-silico THINGS-EEG2 and Shen 2019 data, align two subjects' ReAlnets "
                               'from a baseline CORnet-S on the CPU, score all three on the EEG and fMRI '
                               'benchmarks, print the comparison and write a report with figures and statistics '
                               '(about two and a half minutes on two cores).')
    demo.add_argument('--out', default='realnet-demo', metavar='DIR', help='where everything goes (%(default)s)')
    demo.set_defaults(progress_bars=False)  # the demo prints its own steps


def run(args):
    from ..demo import run_demo
    from ..files import new_folder
    run_demo(new_folder(args.out))
