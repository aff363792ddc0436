"""The ``brainscore`` command: models, weights and scores of ReAlnet in Brain-Score."""
import argparse
import json
import os
import sys
import traceback
import warnings

import numpy as np

from . import __version__, models
from . import weights as weight_table
from .errors import RealnetError
from .files import atomic_path


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


def cmd_score(args):
    model = models.load_model(args.model, weights=args.weights, batch_size=args.batch_size)
    benchmark = _load_benchmark(args.benchmark)
    from brainscore_core.benchmarks import score_benchmark
    score = score_benchmark(benchmark, model)
    record = score_record(score, model.identifier, args.benchmark)
    print(f'{record["model"]} on {record["benchmark"]}: {record["score"]:.4f}')
    if args.json:
        with atomic_path(args.json) as partial:
            partial.write_text(json.dumps(record, indent=2) + '\n')
        print(f'wrote {args.json}')


def _load_benchmark(identifier: str):
    import brainscore_vision
    try:
        return brainscore_vision.load_benchmark(identifier)
    except AssertionError as error:
        if 'No registrations found' in str(error):
            raise RealnetError(f"unknown benchmark '{identifier}': no Brain-Score plugin registers it") from None
        raise RealnetError(f"benchmark '{identifier}' could not be loaded: {error}") from None
    except Exception as error:  # e.g. its data cannot be fetched offline
        reason = str(error).splitlines()[0] if str(error) else type(error).__name__
        raise RealnetError(f"benchmark '{identifier}' could not be loaded: {reason}") from None


def score_record(score, model_identifier: str, benchmark_identifier: str) -> dict:
    """A Brain-Score ``Score`` as plain JSON: the value and its numeric attributes."""
    record = {'model': model_identifier, 'benchmark': benchmark_identifier, 'score': _plain(score)}
    for key, value in score.attrs.items():
        plain = _plain(value)
        if plain is not None and key not in record:
            record[key] = plain
    return record


def _plain(value):
    """Numbers and arrays as JSON values; strings as they are; anything else None."""
    if isinstance(value, str):
        return value
    try:
        array = np.asarray(getattr(value, 'values', value), dtype=float)
    except (TypeError, ValueError):
        return None
    return array.item() if array.ndim == 0 else array.tolist()


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

    sub = commands.add_parser('score', parents=[common], help='score a model on a Brain-Score benchmark',
                              description='Score a model on any benchmark brainscore_vision.load_benchmark '
                                          'knows, e.g. MajajHong2015public.IT-pls.')
    sub.add_argument('--model', required=True, metavar='MODEL', help='model identifier (see `brainscore models`)')
    sub.add_argument('--benchmark', required=True, metavar='BENCH', help='benchmark identifier')
    sub.add_argument('--weights', metavar='FILE',
                     help="use this checkpoint instead of the published weights (identifier gets '+<hash>')")
    sub.add_argument('--batch-size', type=_positive, default=64, metavar='N',
                     help='images per forward pass (default 64; Brain-Score pads the last batch to N)')
    sub.add_argument('--json', metavar='OUT', help='also write the score and its attributes as JSON')
    sub.set_defaults(run=cmd_score)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    # Brain-Score otherwise pip-installs each plugin's requirements on every load.
    os.environ.setdefault('BS_INSTALL_DEPENDENCIES', 'no')
    # brainscore_core's Score class warns at import; it is not the user's concern.
    warnings.filterwarnings('ignore', message='xarray subclass .* __slots__', category=FutureWarning)
    try:
        args.run(args)
        return 0
    except KeyboardInterrupt:
        print('brainscore: interrupted', file=sys.stderr)
        return 130
    except RealnetError as error:
        if args.verbose:
            traceback.print_exc()
        print(f'brainscore: error: {error}', file=sys.stderr)
        return 2
    except Exception as error:
        if args.verbose:
            traceback.print_exc()
            return 1
        line = str(error).splitlines()[0] if str(error) else ''
        print(f'brainscore: unexpected {type(error).__name__}: {line} (rerun with -v for the traceback)',
              file=sys.stderr)
        return 1


if __name__ == '__main__':
    sys.exit(main())
