from brainscore_vision import model_registry

from .model import get_model

# One line per model, its identifier written out: Brain-Score finds plugins by scanning for these lines.
model_registry['IDENTIFIER'] = lambda: get_model('IDENTIFIER')
