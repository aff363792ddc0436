"""ReAlnet's multi-layer encoding head: chosen layers of a backbone predict a brain response.

Each layer's output is flattened (or first averaged to pool×pool: ``pool``) and goes through
Linear(·, 128) + ReLU; the 128-vectors are concatenated and a Linear gives the response (for
CORnet-S's V1, V2, V4 and IT and 17 EEG channels × 20 time points: Linear(512, 340)). Parameter
names are ``fc_<layer>`` and ``fc``: for CORnet-S ``fc_v1 fc_v2 fc_v4 fc_it fc``, those of the
published ReAlnet checkpoints.
"""
import math

import torch
from torch import nn
from torch.nn import functional as F

from .backbones import LayerTaps, head_name, probe_outputs
from .cornet import AREAS, CORnetS

WIDTH = 128


class EncodingHead(nn.Module):
    def __init__(self, layer_features: dict[str, int], n_out: int, width: int = WIDTH, pool: int | None = None):
        """``layer_features``: each layer's flattened (pooled) output size, e.g. ``{'V1': 200704, ...}``."""
        super().__init__()
        self.layers, self.pool = tuple(layer_features), pool
        names = [head_name(layer) for layer in self.layers]
        if len(set(names)) < len(names):
            raise ValueError(f'layers {", ".join(self.layers)} give the head two parameters of one name')
        for name, features in zip(names, layer_features.values()):
            setattr(self, name, nn.Linear(features, width))
        self.fc = nn.Linear(len(self.layers) * width, n_out)
        self.activation = nn.ReLU()

    @classmethod
    def for_backbone(cls, backbone: nn.Module, image_size: int, n_out: int, width: int = WIDTH,
                     layers=AREAS, pool: int | None = None):
        """A head sized by a probing forward of ``backbone`` at ``image_size`` pixels."""
        _, outputs = probe_outputs(backbone, layers, image_size)
        return cls({layer: math.prod(reduced(outputs[layer], pool).shape[1:]) for layer in layers}, n_out, width, pool)

    @classmethod
    def from_state_dict(cls, state_dict: dict[str, torch.Tensor], layers=AREAS, pool: int | None = None):
        """A head shaped like the one ``state_dict`` was saved from, with those weights (strict)."""
        try:
            sizes = {layer: state_dict[f'{head_name(layer)}.weight'].shape for layer in layers}
            n_out, concat = state_dict['fc.weight'].shape
        except KeyError as missing:
            raise ValueError(f'encoding head is missing {missing.args[0]!r}') from missing
        width = sizes[layers[0]][0]
        if concat != len(layers) * width:
            raise ValueError(f'encoding head fc takes {concat} inputs, expected {len(layers)} × {width}')
        head = cls({layer: shape[1] for layer, shape in sizes.items()}, n_out, width, pool)
        head.load_state_dict(state_dict, strict=True)
        return head

    def forward(self, outputs: dict[str, torch.Tensor]) -> torch.Tensor:
        features = [self.activation(getattr(self, head_name(layer))(reduced(outputs[layer], self.pool)))
                    for layer in self.layers]
        return self.fc(torch.cat(features, dim=1))


def reduced(output: torch.Tensor, pool: int | None) -> torch.Tensor:
    """One row per image: maps (N×C×H×W) averaged to pool×pool, tokens (N×T×C, a ViT's) averaged
    to pool² tokens, then flattened; without ``pool`` only flattened."""
    if pool is not None and output.dim() == 4:
        output = F.adaptive_avg_pool2d(output, pool)
    elif pool is not None and output.dim() == 3:
        output = F.adaptive_avg_pool1d(output.transpose(1, 2), pool * pool)
    return output.flatten(1)


class ReAlnet(nn.Module):
    """Backbone plus encoding head: ``forward(images) -> (logits, response)`` in one pass."""

    def __init__(self, backbone: nn.Module, head: EncodingHead):
        super().__init__()
        self.backbone = backbone
        self.head = head
        # CORnet-S hands out its areas itself; other backbones are read through forward hooks
        self.direct = isinstance(backbone, CORnetS) and set(head.layers) <= set(AREAS)
        self.taps = None if self.direct else LayerTaps(backbone, head.layers)

    def forward(self, images):
        if self.direct:
            areas = self.backbone.forward_areas(images)
            return areas['logits'], self.head(areas)
        logits = self.backbone(images)
        return logits, self.head(self.taps.take())
