"""`brainscore report`: figures and statistics from `brainscore score --json` files."""
from .options import add_force, command


DESCRIPTION = ('From `brainscore score --json` files: EEG temporal RSA time courses (mean ± SEM over subjects, noise '
               'ceiling, cluster-significant differences of a model pair; one panel per region), or for Shen 2019 '
               'scores, bars per ROI for the baseline, dots for the other models and stars where a paired test finds '
               'them different.')


def add_parsers(commands):
    parser = command(commands, 'report', run, help='draw figures from score files', description=DESCRIPTION)
    parser.add_argument('--scores', nargs='+', required=True, metavar='JSON')
    parser.add_argument('--out', required=True, metavar='PNG')
    add_force(parser, 'an existing --out file')
    parser.add_argument('--pair', nargs=2, metavar='MODEL',
                        help='models to compare (default: the first two); for fMRI scores the second is the baseline')


def run(args):
    from ..report import score_files_comparison
    from ..figures import draw_comparison
    from ..errors import printable
    from ..files import output_file
    from ..records import read_record
    output_file(args.out, inputs=args.scores, force=args.force)
    records = [read_record(path) for path in args.scores]
    comparison = score_files_comparison(args.scores, records, pair=args.pair)  # one kind: EEG or fMRI
    draw_comparison(comparison, args.out)
    for line in comparison.lines():
        print(printable(line))  # benchmark and model names come from the score files
    print(f'wrote {args.out}')
