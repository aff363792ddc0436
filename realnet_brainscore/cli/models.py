"""`brainscore models`: the model identifiers this package registers."""
from ..models import list_models
from ..weights import WEIGHTS
from .options import command


def add_parsers(commands):
    command(commands, 'models', run, help='list the model identifiers',
            description='List the model identifiers this package registers.')


def run(args):
    for identifier in list_models():
        print(f'{identifier:12}  {WEIGHTS[identifier].description}')
