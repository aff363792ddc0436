"""ReAlnet's multi-layer encoding head: the V1, V2, V4 and IT outputs predict an EEG response.

Each area's flattened output goes through Linear(·, 128) + ReLU; the four 128-vectors are
concatenated and a Linear(512, n_out) gives the EEG vector (17 channels × 20 time points = 340 by
default). Parameter names (``fc_v1 fc_v2 fc_v4 fc_it fc``) equal the published ReAlnet checkpoints.
"""
import math

import torch
from torch import nn

from .cornet import AREAS, CORnetS

HEAD_LAYERS = {'V1': 'fc_v1', 'V2': 'fc_v2', 'V4': 'fc_v4', 'IT': 'fc_it'}
WIDTH = 128


class EncodingHead(nn.Module):
    def __init__(self, area_features: dict[str, int], n_out: int, width: int = WIDTH):
        """``area_features``: flattened output size of each area, e.g. ``{'V1': 200704, ...}``."""
        super().__init__()
        for area in AREAS:
            setattr(self, HEAD_LAYERS[area], nn.Linear(area_features[area], width))
        self.fc = nn.Linear(len(AREAS) * width, n_out)
        self.activation = nn.ReLU()

    @classmethod
    def for_backbone(cls, backbone: CORnetS, image_size: int, n_out: int, width: int = WIDTH):
        """A head sized by a dummy forward of ``backbone`` at ``image_size`` pixels."""
        return cls(area_output_features(backbone, image_size), n_out, width)

    @classmethod
    def from_state_dict(cls, state_dict: dict[str, torch.Tensor]):
        """A head shaped like the one ``state_dict`` was saved from, with those weights (strict)."""
        try:
            sizes = {area: state_dict[f'{HEAD_LAYERS[area]}.weight'].shape for area in AREAS}
            n_out, concat = state_dict['fc.weight'].shape
        except KeyError as missing:
            raise ValueError(f'encoding head is missing {missing.args[0]!r}') from missing
        width = sizes['V1'][0]
        if concat != len(AREAS) * width:
            raise ValueError(f'encoding head fc takes {concat} inputs, expected {len(AREAS)} × {width}')
        head = cls({area: shape[1] for area, shape in sizes.items()}, n_out, width)
        head.load_state_dict(state_dict, strict=True)
        return head

    def forward(self, areas: dict[str, torch.Tensor]) -> torch.Tensor:
        features = [self.activation(getattr(self, HEAD_LAYERS[area])(areas[area].flatten(1)))
                    for area in AREAS]
        return self.fc(torch.cat(features, dim=1))


class ReAlnet(nn.Module):
    """CORnet-S backbone plus encoding head: ``forward(images) -> (logits, eeg)`` in one pass."""

    def __init__(self, backbone: CORnetS, head: EncodingHead):
        super().__init__()
        self.backbone = backbone
        self.head = head

    def forward(self, images):
        areas = self.backbone.forward_areas(images)
        return areas['logits'], self.head(areas)


@torch.no_grad()
def area_output_features(backbone: CORnetS, image_size: int) -> dict[str, int]:
    """Flattened size of each area's output for one ``image_size``×``image_size`` image."""
    was_training = backbone.training
    backbone.eval()  # batch norm in training mode rejects a batch of one
    try:
        parameter = next(backbone.parameters())
        probe = torch.zeros(1, 3, image_size, image_size, device=parameter.device, dtype=parameter.dtype)
        areas = backbone.forward_areas(probe)
    finally:
        backbone.train(was_training)
    return {area: math.prod(areas[area].shape[1:]) for area in AREAS}
