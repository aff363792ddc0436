"""CORnet-S (Kubilius et al. 2019), written for this project.

Module and parameter names equal those of the dicarlolab release, so its ImageNet checkpoint and
the ten published ReAlnet checkpoints load with strict key matching. The network is an
``nn.Sequential`` of the areas ``V1 V2 V4 IT decoder`` so that Brain-Score's ``PytorchWrapper``
finds layers by these names and the logits at ``decoder.output``.
"""
from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F

AREAS = ('V1', 'V2', 'V4', 'IT')


class Identity(nn.Module):
    """A named no-op: hooks on ``<area>.output`` see the area's output."""

    def forward(self, x):
        return x


class Flatten(nn.Module):
    def forward(self, x):
        return x.reshape(x.size(0), -1)


class CORblockS(nn.Module):
    """Recurrent bottleneck block, unrolled ``times`` steps; the first step halves the resolution."""

    scale = 4

    def __init__(self, in_channels, out_channels, times):
        super().__init__()
        wide = out_channels * self.scale
        self.times = times
        self.conv_input = nn.Conv2d(in_channels, out_channels, kernel_size=1, bias=False)
        self.skip = nn.Conv2d(out_channels, out_channels, kernel_size=1, stride=2, bias=False)
        self.norm_skip = nn.BatchNorm2d(out_channels)
        self.conv1 = nn.Conv2d(out_channels, wide, kernel_size=1, bias=False)
        self.nonlin1 = nn.ReLU(inplace=True)
        # One weight shared by every step; the stride is chosen per step in forward().
        self.conv2 = nn.Conv2d(wide, wide, kernel_size=3, stride=2, padding=1, bias=False)
        self.nonlin2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(wide, out_channels, kernel_size=1, bias=False)
        self.nonlin3 = nn.ReLU(inplace=True)
        self.output = Identity()
        # Batch norm is not shared across steps (names norm1_0, norm2_0, norm3_0, norm1_1, ...).
        for t in range(times):
            setattr(self, f'norm1_{t}', nn.BatchNorm2d(wide))
            setattr(self, f'norm2_{t}', nn.BatchNorm2d(wide))
            setattr(self, f'norm3_{t}', nn.BatchNorm2d(out_channels))

    def forward(self, x):
        x = self.conv_input(x)
        for t in range(self.times):
            skip = self.norm_skip(self.skip(x)) if t == 0 else x
            # The release mutates conv2.stride inside forward; a functional call keeps the module
            # stateless, which torch.compile and CUDA graphs need.
            y = self.nonlin1(getattr(self, f'norm1_{t}')(self.conv1(x)))
            y = F.conv2d(y, self.conv2.weight, stride=2 if t == 0 else 1, padding=1)
            y = self.nonlin2(getattr(self, f'norm2_{t}')(y))
            y = getattr(self, f'norm3_{t}')(self.conv3(y))
            x = self.nonlin3(y + skip)
        return self.output(x)


class CORnetS(nn.Sequential):
    """CORnet-S: ``V1 V2 V4 IT decoder``; 53,416,616 parameters; input 3×H×W, output 1000 logits."""

    def __init__(self, num_classes=1000):
        super().__init__(OrderedDict([
            ('V1', nn.Sequential(OrderedDict([
                ('conv1', nn.Conv2d(3, 64, kernel_size=7, stride=2, padding=3, bias=False)),
                ('norm1', nn.BatchNorm2d(64)),
                ('nonlin1', nn.ReLU(inplace=True)),
                ('pool', nn.MaxPool2d(kernel_size=3, stride=2, padding=1)),
                ('conv2', nn.Conv2d(64, 64, kernel_size=3, stride=1, padding=1, bias=False)),
                ('norm2', nn.BatchNorm2d(64)),
                ('nonlin2', nn.ReLU(inplace=True)),
                ('output', Identity()),
            ]))),
            ('V2', CORblockS(64, 128, times=2)),
            ('V4', CORblockS(128, 256, times=4)),
            ('IT', CORblockS(256, 512, times=2)),
            ('decoder', nn.Sequential(OrderedDict([
                ('avgpool', nn.AdaptiveAvgPool2d(1)),
                ('flatten', Flatten()),
                ('linear', nn.Linear(512, num_classes)),
                ('output', Identity()),
            ]))),
        ]))

    def forward_areas(self, x) -> dict[str, torch.Tensor]:
        """One pass returning every area's output and the logits (key ``'logits'``)."""
        outputs = {}
        for area in AREAS:
            x = outputs[area] = getattr(self, area)(x)
        outputs['logits'] = self.decoder(x)
        return outputs
