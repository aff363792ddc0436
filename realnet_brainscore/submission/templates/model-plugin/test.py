"""The registered models load as Brain-Score models with the committed layers."""
import pytest

# Filled in when the plugin folder is written: the leaderboard identifiers this plugin registers.
IDENTIFIERS = []
LAYERS = ['V1', 'V2', 'V4', 'IT', 'decoder.avgpool']  # each region's layer, then the behavioural readout
REGIONS = {'V1': 'V1', 'V2': 'V2', 'V4': 'V4', 'IT': 'IT'}


@pytest.mark.parametrize('identifier', IDENTIFIERS)
def test_registered(identifier):
    from brainscore_vision import model_registry
    from . import model  # noqa: F401
    assert identifier in model_registry


@pytest.mark.parametrize('identifier', IDENTIFIERS)
def test_layers_and_regions(identifier):
    from .model import get_layers
    assert get_layers(identifier) == LAYERS


def test_loads_with_its_layer_commitment():
    from brainscore_vision import load_model
    model = load_model(IDENTIFIERS[0])
    assert model.identifier.startswith(IDENTIFIERS[0].replace('_', '-'))
    assert dict(model.layer_model.region_layer_map) == REGIONS
