"""Backbones other than CORnet-S: their specs, the head on any layer (maps and tokens), checkpoints
that name their own model, and the library weights offline."""
import pytest
import torch
from torchvision.models.feature_extraction import create_feature_extractor

from factories import random_cornet
from realnet_brainscore import RealnetError, __version__, load_model, load_network
from realnet_brainscore.backbones import (CORNET_SPEC, BackboneSpec, LayerTaps, create, describe, head_name,
                                          parse_regions, pretrained_state)
from realnet_brainscore.checkpoint import write_checkpoint
from realnet_brainscore.encoder import EncodingHead, ReAlnet, reduced
from realnet_brainscore.models import known, network_identifier
from realnet_brainscore.submission import model_plugin


def test_specs_of_cornet_and_resnet_follow_their_architectures():
    # CORnet-S: the published commitment; ResNet-18: layer1-4 and the average pool before its fc
    assert describe('cornet-s', create('cornet-s'), 64) == CORNET_SPEC
    spec = describe('resnet18', create('resnet18'), 64)
    assert spec.layers == ('layer1', 'layer2', 'layer3', 'layer4') and spec.readout == 'avgpool'
    assert spec.regions == {'V1': 'layer1', 'V2': 'layer2', 'V4': 'layer3', 'IT': 'layer4'}
    assert spec.brainscore_layers == ['layer1', 'layer2', 'layer3', 'layer4', 'avgpool']
    assert BackboneSpec.from_meta(spec.to_meta()) == spec and BackboneSpec.from_meta(None) == CORNET_SPEC


def test_a_created_cornet_is_wholly_set_by_a_strict_load():
    """`create(drawn=False)` leaves CORnet-S's weights unset for the load that follows: every tensor
    it holds must be one a state dict carries, and loading one gives that network's outputs."""
    created, source = create('cornet-s', drawn=False), random_cornet(3)
    assert {name for name, _ in [*created.named_parameters(), *created.named_buffers()]} == set(created.state_dict())
    created.load_state_dict(source.state_dict(), strict=True)
    images = torch.rand(2, 3, 64, 64)
    assert torch.equal(created.eval()(images), source(images))


def test_regions_spread_over_the_layers_in_depth_order_unless_given():
    resnet = create('resnet18')
    two = describe('resnet18', resnet, 64, layers=['layer2', 'layer4'])
    assert two.regions == {'V1': 'layer2', 'V2': 'layer2', 'V4': 'layer4', 'IT': 'layer4'}
    seven = describe('resnet18', resnet, 64, layers=['layer1.0', 'layer1.1', 'layer2.0', 'layer2.1', 'layer3.0',
                                                      'layer3.1', 'layer4.1'])
    assert seven.regions == {'V1': 'layer1.0', 'V2': 'layer2.0', 'V4': 'layer3.0', 'IT': 'layer4.1'}
    given = parse_regions(['V1=layer1', 'V2=layer1', 'V4=layer3', 'IT=layer4.1'])
    assert describe('resnet18', resnet, 64, regions=given).regions == given


@pytest.mark.parametrize('call, message', [
    (lambda: create('resnet181'), "unknown backbone 'resnet181'.*did you mean resnet18"),
    (lambda: describe('resnet18', create('resnet18'), 64, layers=['layer5']), r"no module 'layer5' \(did you mean layer4"),
    (lambda: describe('alexnet', create('alexnet'), 64), 'no default layers for this family; name them with `layers`'),
    (lambda: describe('resnet18', create('resnet18'), 64, layers=['layer1', 'layer1']), 'names a layer twice'),
    (lambda: parse_regions(['V3=layer1']), "`regions` 'V3=layer1': expected REGION=LAYER"),
    (lambda: describe('resnet18', create('resnet18'), 64, regions={'V1': 'layer1'}), 'must map each of V1 V2 V4 IT'),
])
def test_bad_backbone_settings_are_refused_in_one_line(call, message):
    with pytest.raises(RealnetError, match=message) as error:
        call()
    assert '\n' not in str(error.value)


def test_head_names_are_the_published_ones_for_cornet_areas():
    assert [head_name(area) for area in ('V1', 'V2', 'V4', 'IT')] == ['fc_v1', 'fc_v2', 'fc_v4', 'fc_it']
    assert head_name('layer4.1') == 'fc_layer4_1' and head_name('blocks.11') == 'fc_blocks_11'


def test_pooling_averages_maps_and_tokens():
    maps = torch.arange(16.).reshape(1, 1, 4, 4)  # quadrant means: 2.5, 4.5, 10.5, 12.5
    assert reduced(maps, 2).tolist() == [[2.5, 4.5, 10.5, 12.5]]
    assert reduced(maps, None).shape == (1, 16)
    tokens = torch.stack([torch.arange(8.), -torch.arange(8.)], dim=1)[None]  # 1 image × 8 tokens × 2 channels
    # 8 tokens averaged to 2 × 2 = 4 groups of two: channel 0 means 0.5 2.5 4.5 6.5, channel 1 their negatives
    assert reduced(tokens, 2).tolist() == [[0.5, 2.5, 4.5, 6.5, -0.5, -2.5, -4.5, -6.5]]


def test_hooked_layers_equal_torchvisions_feature_extractor():
    torch.manual_seed(0)
    resnet = create('resnet18').eval()
    head = EncodingHead.for_backbone(resnet, 64, 7, layers=('layer2', 'layer4'), pool=2)
    assert head.fc_layer2.in_features == 128 * 4 and head.fc_layer4.in_features == 512 * 4
    images = torch.randn(3, 3, 64, 64)
    extractor = create_feature_extractor(resnet, {'layer2': 'layer2', 'layer4': 'layer4', 'fc': 'logits'})
    with torch.no_grad():
        logits, predicted = ReAlnet(resnet, head.eval())(images)
        expected = extractor(images)
        assert torch.allclose(logits, expected['logits'], atol=1e-5)
        assert torch.allclose(predicted, head(expected), atol=1e-5)


def test_cornet_read_through_hooks_equals_its_own_area_outputs():
    cornet = random_cornet(seed=3)
    head = EncodingHead.for_backbone(cornet, 64, 5).eval()
    direct, hooked = ReAlnet(cornet, head), ReAlnet(cornet, head)
    hooked.direct, hooked.taps = False, LayerTaps(cornet, head.layers)
    images = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(direct(images), hooked(images)))


def test_vision_transformer_tokens_feed_the_head():
    pytest.importorskip('timm', reason="timm is the optional extra realnet-brainscore[timm]")
    vit = create('timm:vit_tiny_patch16_224')
    spec = describe('timm:vit_tiny_patch16_224', vit, 224, layers=['blocks.3', 'blocks.11'], pool=2)
    assert spec.readout == 'norm'  # the final norm before the classifier, past fc_norm and head_drop
    head = EncodingHead.for_backbone(vit, 224, 10, layers=spec.layers, pool=2)
    assert head.fc_blocks_3.in_features == 4 * 192  # 197 tokens averaged to 4, 192 channels each
    logits, predicted = ReAlnet(vit.eval(), head)(torch.randn(2, 3, 224, 224))
    assert logits.shape == (2, 1000) and predicted.shape == (2, 10)


def _aligned_resnet(path, subject=1, modality='EEG', subjects=()):
    torch.manual_seed(subject)
    resnet = create('resnet18')
    spec = describe('resnet18', resnet, 64)
    head = EncodingHead.for_backbone(resnet, 64, 12, layers=spec.layers)
    meta = {'subject': None if subjects else subject, 'subjects': list(subjects), 'modality': modality,
            'backbone': spec.to_meta(), 'config': {'image_size': 64}}
    write_checkpoint(path, resnet.state_dict(), head.state_dict(), meta)
    return resnet


def test_an_aligned_file_names_its_model_and_loads_only_as_it(tmp_path):
    resnet = _aligned_resnet(tmp_path / 'run.pt')
    network = load_network('resnet18-eeg-s01', weights=tmp_path / 'run.pt')
    assert network.identifier.startswith('resnet18-eeg-s01+') and network.image_size == 64
    assert torch.equal(network.backbone.fc.weight, resnet.fc.weight)  # ResNet's own fc stays in the backbone
    assert network.head.fc.out_features == 12 and network.spec.readout == 'avgpool'
    for wrong in ('realnet-s01', 'resnet18-eeg-s02', 'cornet-s'):
        with pytest.raises(RealnetError, match=f'holds resnet18-eeg-s01; load it as resnet18-eeg-s01, not {wrong}'):
            load_network(wrong, weights=tmp_path / 'run.pt')
    _aligned_resnet(tmp_path / 'fmri.pt', subject=2, modality='fMRI')
    _aligned_resnet(tmp_path / 'group.pt', subjects=(1, 2, 3))
    assert load_network('resnet18-fmri-s02', weights=tmp_path / 'fmri.pt').head is not None
    assert load_network('resnet18-eeg-group', weights=tmp_path / 'group.pt').head is not None



def test_a_trained_cornet_file_loads_only_as_its_own_subject(tmp_path):
    cornet = random_cornet(seed=4)
    head = EncodingHead.for_backbone(cornet, 64, 12)
    write_checkpoint(tmp_path / 's03.pt', cornet.state_dict(), head.state_dict(), {'subject': 3, 'modality': 'EEG'})
    assert load_network('realnet-s03', weights=tmp_path / 's03.pt').identifier.startswith('realnet-s03+')
    with pytest.raises(RealnetError, match='holds realnet-s03; load it as realnet-s03, not realnet-s01'):
        load_network('realnet-s01', weights=tmp_path / 's03.pt')  # the matched-subject figure trusts the name
    write_checkpoint(tmp_path / 'plain.pt', cornet.state_dict(), head.state_dict(), {'config': {}})
    assert load_network('realnet-s07', weights=tmp_path / 'plain.pt').head is not None  # no subject recorded


def test_brainscore_model_of_an_aligned_resnet_commits_its_layers(tmp_path):
    _aligned_resnet(tmp_path / 'run.pt')
    model = load_model('resnet18-eeg-s01', weights=tmp_path / 'run.pt')
    assert model.layers == ['layer1', 'layer2', 'layer3', 'layer4', 'avgpool']
    assert dict(model.layer_model.region_layer_map) == {'V1': 'layer1', 'V2': 'layer2', 'V4': 'layer3', 'IT': 'layer4'}


def test_a_plain_state_dict_loads_under_its_architecture_name(tmp_path):
    torch.manual_seed(5)
    resnet = create('resnet18')
    torch.save(resnet.state_dict(), tmp_path / 'resnet18.pth')
    network = load_network('resnet18', weights=tmp_path / 'resnet18.pth')
    assert network.spec == describe('resnet18', resnet, 224) and network.head is None
    assert torch.equal(network.backbone.conv1.weight, resnet.conv1.weight)
    with pytest.raises(RealnetError, match='keys do not match resnet34'):
        load_network('resnet34', weights=tmp_path / 'resnet18.pth')


def test_torchvision_weights_are_identified_by_the_hash_their_file_name_carries():
    # torchvision's DEFAULT ResNet-18 file is resnet18-f37072fd.pth: sha256 starting f37072fd
    assert network_identifier('resnet18') == 'resnet18+f37072fd'
    assert network_identifier('realnet-s01') == 'realnet-s01'
    with pytest.raises(RealnetError, match="unknown model 'resnet181'"):
        known('resnet181')


def test_library_weights_offline_are_one_line_naming_the_way_out(tmp_path, monkeypatch):
    monkeypatch.setenv('REALNET_OFFLINE', '1')
    monkeypatch.setattr(torch.hub, 'get_dir', lambda: str(tmp_path / 'hub'))
    with pytest.raises(RealnetError, match=r'resnet18: weights file .*hub/checkpoints/resnet18-f37072fd.pth is '
                                           r'missing.*or give `backbone_weights` FILE') as error:
        pretrained_state('resnet18')
    assert '\n' not in str(error.value)
    with pytest.raises(RealnetError, match='or give `backbone_weights` FILE'):
        load_network('resnet18')  # torchvision's published weights, the baseline of an aligned ResNet-18


def test_a_timm_model_plugin_requires_the_timm_extra():
    spec = BackboneSpec('timm:resnet10t', ('layer1',), {region: 'layer1' for region in ('V1', 'V2', 'V4', 'IT')},
                        'global_pool.pool')
    files = model_plugin(['timm-resnet10t-eeg-s01'], spec=spec)
    assert files['requirements.txt'] == f'realnet-brainscore[timm]=={__version__}\n'
    assert "LAYERS = ['layer1', 'global_pool.pool']" in files['model.py']
    assert "REGIONS = {'V1': 'layer1', 'V2': 'layer1', 'V4': 'layer1', 'IT': 'layer1'}" in files['test.py']
