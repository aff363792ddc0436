"""Every form of a model's name, parsed and formatted back."""
import pytest

from realnet_brainscore.identifiers import (ModelName, aligned, eeg_subject, leaderboard_id, parse, personal_name,
                                            split_weights, with_digest)


@pytest.mark.parametrize('text, parsed', [
    ('realnet-s01', ModelName('cornet-s', 'EEG', 1)),
    ('realnet-group', ModelName('cornet-s', 'EEG', group=True)),
    ('cornet-s', ModelName('cornet-s')),
    ('cornet-s-fmri-s01', ModelName('cornet-s', 'fMRI', 1)),
    ('resnet50-eeg-s01', ModelName('resnet50', 'EEG', 1)),
    ('resnet50-fmri-group', ModelName('resnet50', 'fMRI', group=True)),
    ('timm:vit_small', ModelName('timm:vit_small')),
    ('realnet-s01+3fa2c1d0', ModelName('cornet-s', 'EEG', 1, digest='3fa2c1d0')),
    ('resnet18+f37072fd', ModelName('resnet18', digest='f37072fd')),
])
def test_each_form_parses_and_formats_back(text, parsed):
    assert parse(text) == parsed and str(parsed) == text


def test_aligned_names_follow_the_backbone_and_modality():
    assert str(aligned('cornet-s', 'EEG', 3)) == personal_name(3) == 'realnet-s03'
    assert str(aligned('timm:vit_small', 'EEG', group=True)) == 'timm-vit_small-eeg-group'
    assert aligned('resnet50', 'fMRI', 2).personal and not aligned('resnet50', 'EEG', group=True).personal


def test_weights_hash_leaderboard_and_compare_forms():
    assert with_digest('realnet-s01', '3fa2c1d0') == 'realnet-s01+3fa2c1d0' and with_digest('cornet-s', None) == 'cornet-s'
    assert leaderboard_id('realnet-s01') == 'realnet_s01'
    assert split_weights('realnet-s01') == ('realnet-s01', None)
    name, weights = split_weights('resnet50-eeg-s01=runs/best.pt')
    assert name == 'resnet50-eeg-s01' and weights.name == 'best.pt'


def test_only_personal_eeg_models_have_an_eeg_subject():
    assert [eeg_subject(n) for n in ('realnet-s07', 'resnet50-eeg-s02+3fa2c1d0', 'cornet-s-fmri-s01',
                                     'realnet-group', 'cornet-s')] == [7, 2, None, None, None]
