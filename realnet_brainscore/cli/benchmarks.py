"""`brainscore benchmarks`: this package's benchmarks, or those a data-set card gives."""
from ..plugin import list_benchmarks
from .options import command


def add_parsers(commands):
    parser = command(commands, 'benchmarks', run, help="list this package's benchmarks",
                     description="List this package's Brain-Score benchmarks, or with --data CARD those the data "
                                 'set a card describes gives.')
    parser.add_argument('--data', metavar='CARD', help='a data-set card (brainscore data init)')


def run(args):
    for identifier in list_benchmarks(args.data):
        print(identifier)
    print("(and every benchmark of Brain-Score's own, e.g. MajajHong2015public.IT-pls)")
