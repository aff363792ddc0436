"""Issue 26, rule 4: offline is offline. A backbone name read from a checkpoint never makes anything
contact a model hub; with downloads off (REALNET_OFFLINE) neither does a name the user types."""
import os
import re
from pathlib import Path

import pytest
import torch

from realnet_brainscore import RealnetError, cli
from realnet_brainscore.backbones import create, pretrained_state
from realnet_brainscore.checkpoint import write_checkpoint
from realnet_brainscore.models import load_network


def _hub_checkpoint(path: Path, backbone: str) -> Path:
    spec = {'name': backbone, 'layers': ['layer1'], 'regions': dict.fromkeys(('V1', 'V2', 'V4', 'IT'), 'layer1'),
            'readout': 'global_pool', 'pool': None}
    write_checkpoint(path, {'layer1.weight': torch.zeros(1)}, meta={'backbone': spec, 'subject': 1, 'modality': 'EEG'})
    return path


@pytest.mark.parametrize('backbone', ['timm:hf-hub:x/y', 'timm:HF_HUB:x/y', 'timm:local-dir:/tmp'])
def test_a_checkpoint_naming_a_hub_model_is_refused_without_the_network(backbone, tmp_path, no_network, capsys):
    path = _hub_checkpoint(tmp_path / 'hub.pt', backbone)
    name = f'timm-{re.sub(r"[^a-z0-9_]+", "-", backbone.lower()[5:])}-eeg-s01'
    with pytest.raises(RealnetError) as error:
        load_network(name, weights=path)
    assert '\n' not in str(error.value) and backbone in str(error.value) and no_network == []
    code = cli.main(['score', '--model', name, '--weights', str(path), '--benchmark', 'Gifford2022.IT-temporal_rsa',
                     '--rdm', 'correlation', '-q'])
    assert code == 2 and capsys.readouterr().err.count('\n') == 1 and no_network == []


def test_offline_a_hub_name_the_user_types_is_looked_up_in_no_hub(monkeypatch, tmp_path, no_network):
    import huggingface_hub.constants as hub
    monkeypatch.setenv('REALNET_OFFLINE', '1')
    monkeypatch.setattr(hub, 'HF_HUB_CACHE', str(tmp_path / 'hub'))
    with pytest.raises(RealnetError, match=r'^`backbone` timm:hf-hub:x/y: '):
        create('timm:hf-hub:x/y')
    with pytest.raises(RealnetError, match='^timm:resnet10t: timm could not load its pretrained weights'):
        pretrained_state('timm:resnet10t')
    assert no_network == [] and os.environ.get('HF_HUB_OFFLINE') is None and not hub.HF_HUB_OFFLINE


def test_offline_refuses_timms_own_downloader_too():
    """timm fetches some weights (ViT .npz files) through its own name for torch.hub's downloader."""
    import torch.hub
    from timm.models import _hub
    from realnet_brainscore.backbones import offline
    original = torch.hub.download_url_to_file
    with offline():
        for download in (torch.hub.download_url_to_file, _hub.download_url_to_file):
            with pytest.raises(RealnetError, match='downloads are not allowed here'):
                download('https://example.org/w.npz', '/nonexistent/w.npz')
    assert torch.hub.download_url_to_file is original and _hub.download_url_to_file is original


@pytest.mark.parametrize('name', ['timm:x/y', 'timm:hf-hub:', 'timm:bogus-source:x'])
def test_timm_refusing_a_name_is_one_line(name):
    with pytest.raises(RealnetError, match=f'^`backbone` {name}: .*timm.list_models'):
        create(name)
