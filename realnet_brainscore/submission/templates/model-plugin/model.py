"""Models of the realnet-brainscore package: ReAlnet (CORnet-S aligned with human EEG) and networks aligned like it."""
from realnet_brainscore.citation import REALNET_BIBTEX
from realnet_brainscore.models import load_model
from realnet_brainscore.weights import WeightSource, fetch

# Filled in when the plugin folder is written: leaderboard identifier -> the package's identifier, and the
# user's hosted weights (None: the published ones).
PACKAGE_IDS = {}
WEIGHTS: WeightSource | None = None
# The layers Brain-Score reads: each region's, then the behavioural readout.
LAYERS = ['V1', 'V2', 'V4', 'IT', 'decoder.avgpool']


def get_model(identifier):
    if WEIGHTS is None:
        return load_model(PACKAGE_IDS[identifier])
    return load_model(PACKAGE_IDS[identifier], weights=fetch(WEIGHTS))


def get_layers(identifier):
    return list(LAYERS)


def get_bibtex(identifier):
    return REALNET_BIBTEX
