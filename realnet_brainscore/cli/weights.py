"""`brainscore weights list|fetch|import`: the cached, hash-verified weight files of the models."""
from ..errors import RealnetError
from ..models import list_models
from ..weights import cached_path, import_file, resolve, status, weights_dir
from .options import command


def add_parsers(commands):
    weights = commands.add_parser('weights', help='list, fetch or import weight files',
                                  description='Manage the cached, hash-verified weight files.')
    actions = weights.add_subparsers(title='weights commands', required=True, metavar='ACTION')
    command(actions, 'list', run_list, help='each model and its weight file status',
            description='Show each model and whether its weight file is present and verified.')
    fetch = command(actions, 'fetch', run_fetch, help='download and verify weight files',
                    description='Download weight files into the cache and verify them.')
    fetch.add_argument('identifiers', nargs='*', metavar='MODEL', help='models whose weights to fetch')
    fetch.add_argument('--all', action='store_true', help='fetch the weights of every model')
    imported = command(actions, 'import', run_import, help='verify a downloaded file and cache it',
                       description='Verify a weight file downloaded elsewhere against the published hash and '
                                   'place it in the cache.')
    imported.add_argument('identifier', metavar='MODEL')
    imported.add_argument('file', metavar='FILE')


def run_list(args):
    print(f'weights folder: {weights_dir()}')
    for identifier in list_models():
        print(f'{identifier:12}  {status(identifier):13}  {cached_path(identifier).name}')


def run_fetch(args):
    identifiers = list_models() if args.all else args.identifiers
    if not identifiers:
        raise RealnetError('name the models to fetch, or pass --all')
    for identifier in identifiers:
        print(f'{identifier}: {resolve(identifier, progress=not args.quiet)}')


def run_import(args):
    path = import_file(args.identifier, args.file)
    print(f'{args.identifier}: verified and placed at {path}')
