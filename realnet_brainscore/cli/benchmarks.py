"""`brainscore benchmarks`: this package's benchmarks."""
from ..plugin import list_benchmarks
from .options import command


def add_parsers(commands):
    command(commands, 'benchmarks', run, help="list this package's benchmarks",
            description="List this package's Brain-Score benchmarks.")


def run(args):
    for identifier in list_benchmarks():
        print(identifier)
    print("(and every benchmark of Brain-Score's own, e.g. MajajHong2015public.IT-pls)")
