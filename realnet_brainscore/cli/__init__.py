"""The ``brainscore`` command: models, weights and scores of ReAlnet in Brain-Score.

Each command's module holds its parser (``add_parsers``) beside its handler; this one builds the
whole parser and runs a command under exits.Policy, which turns what goes wrong into one line and
an exit status: 2 for what the user can fix, 1 for the unexpected, 130 Ctrl-C, 143 SIGTERM, 141 a
closed stdout; -v adds the traceback with its causes."""
import argparse
import contextlib
import os
import warnings

from .. import __version__
from ..errors import printable
from . import (benchmarks, compare, data, demo, exits, models, plugins, report, score, submission, sweep, synth, train,
               weights)

# one module per command, named after it, in the order --help lists them
COMMANDS = (models, weights, demo, synth, data, train, benchmarks, score, compare, sweep, plugins, submission, report)


class _Parser(argparse.ArgumentParser):
    """argparse's parser with its errors in one line, exit status 2, as every other error is: the
    usage argparse would print first is what --help shows. Each subcommand's parser is one too
    (add_subparsers makes them of this class)."""

    def error(self, message):
        self.exit(2, printable(f'{self.prog}: error: {message} (see {self.prog} --help)') + '\n')


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog='brainscore', description='ReAlnet (CORnet-S aligned with human EEG) in Brain-Score.',
        epilog='Weights are cached in $REALNET_HOME/weights (default ~/.realnet/weights); '
               'REALNET_OFFLINE=1 disables downloads.')
    parser.add_argument('--version', action='version', version=f'realnet-brainscore {__version__}')
    commands = parser.add_subparsers(title='commands', required=True, metavar='COMMAND')
    for module in COMMANDS:
        module.add_parsers(commands)
    return parser


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
    """The exit status of the command ``argv`` (default: sys.argv), as exits.Policy decides it; parsing
    the arguments is inside the policy too (a type check may fail on memory, Ctrl-C may come)."""
    policy = exits.Policy()
    return policy.run(lambda: _run(argv, policy))


def _run(argv, policy: exits.Policy):
    args = build_parser().parse_args(argv)
    policy.verbose = args.verbose
    # Brain-Score otherwise pip-installs each plugin's requirements on every load.
    os.environ.setdefault('BS_INSTALL_DEPENDENCIES', 'no')
    # Brain-Score's result cache unpickles what it finds: a private folder unless the user chose one.
    from ..weights import private_result_cache
    private_result_cache()
    # brainscore_core's Score class warns at import; it is not the user's concern.
    warnings.filterwarnings('ignore', message='xarray subclass .* __slots__', category=FutureWarning)
    warnings.filterwarnings('ignore', message="Pandas doesn't allow columns to be created", category=UserWarning)
    # -q silences Brain-Score's progress bars too; a command may print its own steps instead.
    with _progress_bars(shown=not args.quiet and getattr(args, 'progress_bars', True)):
        return args.run(args)
