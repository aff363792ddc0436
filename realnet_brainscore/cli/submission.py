"""`brainscore submission export|check`: Brain-Score website submissions (leaderboard zips)."""
import sys

from ..errors import RealnetError, printable
from ..submission.package_index import DEFAULT_INDEX
from ..weights import checked_url
from .options import add_force, command


def add_parsers(commands):
    submission = commands.add_parser('submission', help='leaderboard zips: export and check',
                                     description='Brain-Score website submissions: export one, or check a zip '
                                                 'against the website rules.')
    actions = submission.add_subparsers(title='submission commands', required=True, metavar='ACTION')
    _add_export(actions)
    check = command(actions, 'check', run_check, help='check a zip against the website rules',
                    description='Check a zip against every website rule this package knows; one line per rule '
                                'broken, exit 2 if any.')
    check.add_argument('zip', metavar='ZIP')
    check.add_argument('--index-url', metavar='URL', default=DEFAULT_INDEX,
                       help="the package index each plugin's requirements.txt is looked up in, a PEP 503 simple "
                            "index (default: PyPI's, %(default)s, which the website installs them from); one that "
                            'does not answer is a note on stderr, not a failure')


def _add_export(actions):
    export = command(actions, 'export', run_export, help='write a model or our benchmarks as a submission',
                     description='Export a Brain-Score website submission: `--model MODEL --out X.zip` '
                                 '(models/<id>/ with __init__, model and test; weights by URL and hash, never '
                                 'inside), or `--benchmarks --out X.zip`. Each plugin is self-contained: the '
                                 "package modules it runs on are copied into its _realnet/ folder and its "
                                 'requirements.txt names only PyPI packages the website lacks.')
    what = export.add_mutually_exclusive_group(required=True)
    what.add_argument('--model', metavar='MODEL')
    what.add_argument('--benchmarks', nargs='*', metavar='PLUGIN',
                      help="export this package's benchmark plugins (default: those the website can run: "
                           "gifford2022_temporal_rsa on Brain-Score's hosted Gifford2022_test; shen2019_rsa is "
                           'refused, its data are not hosted)')
    export.add_argument('--weights', metavar='FILE', help='your own checkpoint (needs --weights-url)')
    export.add_argument('--weights-url', metavar='URL', help='where the website can download --weights')
    export.add_argument('--out', required=True, metavar='DIR|ZIP',
                        help='a .zip (checked against the website rules before it is written) or a new or empty '
                             'folder')
    add_force(export, 'an existing --out zip')


def run_export(args):
    from .. import submission
    benchmarks = args.benchmarks is not None
    if benchmarks and (args.weights or args.weights_url):
        raise RealnetError('--weights and --weights-url go with --model, not --benchmarks')
    if args.weights_url is not None:
        checked_url(args.weights_url)  # refused before the weights are read or anything is written
    out = (submission.export_benchmarks(args.out, args.force, args.benchmarks or None) if benchmarks
           else submission.export_model(args.model, args.out, args.weights, args.weights_url, args.force))
    print(f'wrote {out}')
    if benchmarks and not args.benchmarks:
        for name in submission.benchmark_plugins():
            if submission.website_refusal(name):
                print(f'note: left out benchmarks/{name}: {submission.website_refusal(name)}', file=sys.stderr)


def run_check(args):
    from ..submission import check
    problems = check(args.zip, index_url=args.index_url)
    for note in problems.notes:  # notes and problems quote entry names and text from the zip: escaped
        print(printable(f'note: {note}'), file=sys.stderr)
    for problem in problems:
        print(printable(f'{args.zip}: {problem}'), file=sys.stderr)
    if problems:
        return 2
    print(f'{printable(args.zip)}: passes every website rule this package knows')
    return 0
