import torch
from torch.nn import functional as F

from factories import random_cornet
from realnet_brainscore.cornet import CORnetS
from realnet_brainscore.encoder import EncodingHead, ReAlnet


def test_parameter_count_equals_the_release():
    assert sum(p.numel() for p in CORnetS().parameters()) == 53_416_616


def test_state_dict_names_follow_the_release():
    keys = set(CORnetS().state_dict())
    for key in ['V1.conv1.weight', 'V1.norm1.running_mean', 'V1.conv2.weight', 'V1.norm2.num_batches_tracked',
                'V2.conv_input.weight', 'V2.skip.weight', 'V2.norm_skip.running_var', 'V2.conv1.weight',
                'V2.conv2.weight', 'V2.conv3.weight', 'V2.norm1_0.weight', 'V2.norm3_1.bias',
                'V4.norm2_3.running_mean', 'IT.norm1_1.weight', 'decoder.linear.weight', 'decoder.linear.bias']:
        assert key in keys, key
    # convolutions have no bias; each area has one batch norm per unrolled step and no more
    assert not any(key.endswith('bias') and '.conv' in key for key in keys)
    assert 'V2.norm1_2.weight' not in keys and 'V4.norm1_4.weight' not in keys and 'IT.norm1_2.weight' not in keys


def test_area_outputs_at_224_pixels():
    with torch.no_grad():
        areas = CORnetS().eval().forward_areas(torch.randn(2, 3, 224, 224))
    assert {area: tuple(areas[area].shape[1:]) for area in ('V1', 'V2', 'V4', 'IT', 'logits')} == {
        'V1': (64, 56, 56), 'V2': (128, 28, 28), 'V4': (256, 14, 14), 'IT': (512, 7, 7), 'logits': (1000,)}


def test_block_computes_the_corblock_recurrence():
    """V2 against the recurrence written out with functional ops (eval-mode batch norm)."""
    model = random_cornet(seed=1)
    block, x = model.V2, torch.randn(2, 64, 20, 20)

    def norm(name, y):
        bn = getattr(block, name)
        return F.batch_norm(y, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)

    h = F.conv2d(x, block.conv_input.weight)
    for t in range(2):
        skip = norm('norm_skip', F.conv2d(h, block.skip.weight, stride=2)) if t == 0 else h
        y = F.relu(norm(f'norm1_{t}', F.conv2d(h, block.conv1.weight)))
        y = F.relu(norm(f'norm2_{t}', F.conv2d(y, block.conv2.weight, stride=2 if t == 0 else 1, padding=1)))
        h = F.relu(norm(f'norm3_{t}', F.conv2d(y, block.conv3.weight)) + skip)
    with torch.no_grad():
        torch.testing.assert_close(block(x), h)


def test_forward_and_forward_areas_give_the_same_logits():
    model = random_cornet(seed=2)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), model.forward_areas(x)['logits'])


def test_head_sizes_follow_the_image_size():
    backbone = CORnetS()
    shapes = {key: tuple(value.shape) for key, value in EncodingHead.for_backbone(backbone, 224, 340).state_dict().items()}
    assert shapes['fc_v1.weight'] == (128, 200704) and shapes['fc_v2.weight'] == (128, 100352)
    assert shapes['fc_v4.weight'] == (128, 50176) and shapes['fc_it.weight'] == (128, 25088)
    assert shapes['fc.weight'] == (340, 512)
    small = EncodingHead.for_backbone(backbone, 64, 17)
    assert small.fc_v1.in_features == 64 * 16 * 16 and small.fc_it.in_features == 512 * 2 * 2
    assert backbone.training  # the dummy forward leaves the mode as it was


def test_realnet_predicts_eeg_and_logits_in_one_pass():
    backbone = random_cornet(seed=3)
    network = ReAlnet(backbone, EncodingHead.for_backbone(backbone, 64, 340)).eval()
    with torch.no_grad():
        logits, eeg = network(torch.randn(3, 3, 64, 64))
    assert logits.shape == (3, 1000) and eeg.shape == (3, 340)
