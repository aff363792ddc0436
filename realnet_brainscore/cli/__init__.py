"""The ``brainscore`` command: models, weights and scores of ReAlnet in Brain-Score.

Each command's module holds its parser (``add_parsers``) beside its handler; this one builds the
whole parser and turns what goes wrong into one line and an exit status: 2 for what the user can
fix, 1 for the unexpected; -v adds the traceback with its causes."""
import argparse
import contextlib
import os
import sys
import traceback
import warnings

from .. import __version__
from ..errors import RealnetError, first_line, printable
from . import benchmarks, compare, demo, models, plugins, report, score, submission, synth, train, weights
from .options import with_flags

# one module per command, named after it, in the order --help lists them
COMMANDS = (models, weights, demo, synth, train, benchmarks, score, compare, plugins, submission, report)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
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
    args = build_parser().parse_args(argv)
    # Brain-Score otherwise pip-installs each plugin's requirements on every load.
    os.environ.setdefault('BS_INSTALL_DEPENDENCIES', 'no')
    # brainscore_core's Score class warns at import; it is not the user's concern.
    warnings.filterwarnings('ignore', message='xarray subclass .* __slots__', category=FutureWarning)
    warnings.filterwarnings('ignore', message="Pandas doesn't allow columns to be created", category=UserWarning)
    try:
        # -q silences Brain-Score's progress bars too; a command may print its own steps instead.
        with _progress_bars(shown=not args.quiet and getattr(args, 'progress_bars', True)):
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
                print(f'brainscore: unexpected {type(error).__name__}: {printable(first_line(error))} '
                      '(rerun with -v for the traceback)', file=sys.stderr)
            return 1
        # messages quote names and text from files: escaped, so the line stays one and the terminal
        # shows control characters rather than acting on them
        print(f'brainscore: error: {printable(message)}', file=sys.stderr)
        return 2


def _user_error(error: Exception) -> str | None:
    """The one line for a problem the user can fix (exit 2); None for an unexpected error (exit 1).
    An OSError naming a path is one: a file or folder they named, or $REALNET_HOME, that cannot be
    read or written."""
    if isinstance(error, RealnetError):
        return with_flags(str(error))
    if isinstance(error, OSError) and error.filename is not None:
        return f'{error.filename}: {error.strerror or first_line(error)}'
    return None

