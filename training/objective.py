"""The objective of one batch: the student (backbone + head) classifies like its frozen teacher
and generates the subject's responses; and the network training starts from."""
import contextlib
import copy

import torch
from torch import nn

from ..backbones import CORNET, CORNET_SPEC, create, describe, pretrained_state
from ..checkpoint import read_checkpoint, split_state_dict
from ..cornet import CORnetS
from ..encoder import EncodingHead, ReAlnet
from ..errors import RealnetError
from ..models import load_strict
from ..weights import resolve
from .loss import classification_loss, generation_loss

TERMS = ('cls', 'mse', 'matched_r', 'unmatched_r', 'gen', 'loss')  # the loss terms of a step, logged and checked


class Aligner:
    """Student + head, the frozen teacher, the optimiser, and the loss of one batch.

    Fused Adam (one kernel for all weights; on the CPU a step's Adam took 0.23 s for-each, 0.03 s
    fused). On CUDA: channels_last, and bf16 autocast for the student with ``precision`` bf16. One
    backbone pass gives logits and area outputs, or the notebook's two (``forward_passes`` 2:
    NotebookStep). The teacher runs under no_grad; in fp32 when its argmax is the target, so that
    rounding never flips a near tie. Shared by training and the timing script.
    """

    def __init__(self, student, n_out: int, recipe, device, world=None, spec=CORNET_SPEC):
        self.recipe, self.device, self.spec = recipe.resolved(), torch.device(device), spec
        self.cuda = self.device.type == 'cuda'
        # autocast on CUDA only: the CPU trains in fp32 (a test sets this to run CPU bf16 autocast)
        self.autocast = self.cuda and self.recipe.precision == 'bf16'
        teacher = copy.deepcopy(student).eval().requires_grad_(False)
        head = EncodingHead.for_backbone(student, recipe.image_size, n_out, layers=spec.layers, pool=spec.pool)
        self.network = ReAlnet(student.train(), head).to(self.device)
        self.teacher = teacher.to(self.device)
        if self.cuda:
            self.network.to(memory_format=torch.channels_last)
            self.teacher.to(memory_format=torch.channels_last)
        self.optimizer = torch.optim.Adam(self.network.parameters(), lr=recipe.lr,
                                          fused=self.device.type in ('cpu', 'cuda'))
        step = NotebookStep(self.network) if self.recipe.forward_passes == 2 else self.network
        self.model = world.wrap(step, self.device) if world else step
        if recipe.compile != 'none':
            self.model = torch.compile(self.model, mode=recipe.compile)

    def _amp(self, teacher: bool = False):
        if not self.autocast or (teacher and self.recipe.classification == 'hard'):
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=torch.bfloat16)

    @torch.no_grad()
    def teacher_logits(self, x) -> torch.Tensor:
        """The frozen teacher's logits; fp32 when they are argmax'ed, as the notebook's (bf16 flips
        the top class where the two largest logits lie within its rounding)."""
        with self._amp(teacher=True):
            return self.teacher(x)

    def losses(self, x, targets, train_mode: bool = True, teacher_logits=None) -> dict[str, torch.Tensor]:
        """The loss terms of one batch; ``teacher_logits`` when the teacher has already seen it."""
        with self._amp():
            logits, pred = self.model(x) if train_mode else self.network(x)
        if teacher_logits is None:
            teacher_logits = self.teacher_logits(x)
        terms = generation_loss(pred, targets, self.recipe.correlation_gradient)
        terms['cls'] = classification_loss(logits, teacher_logits, self.recipe.classification)
        terms['loss'] = terms['cls'] + self.recipe.beta * terms['gen']
        return terms

    def train_step(self, targets, x, teacher_logits) -> dict[str, torch.Tensor]:
        """One step on a batch the teacher has seen; the loss terms."""
        self.network.train()
        terms = self.losses(x, targets, teacher_logits=teacher_logits)
        self.optimizer.zero_grad(set_to_none=True)
        terms['loss'].backward()
        self.optimizer.step()
        return {k: v.detach() for k, v in terms.items()}

    @torch.no_grad()
    def held_out_terms(self, targets, x, teacher_logits) -> dict[str, torch.Tensor]:
        """The loss terms of a held-out batch the teacher has seen."""
        self.network.eval()
        return self.losses(x, targets, train_mode=False, teacher_logits=teacher_logits)


class NotebookStep(nn.Module):
    """The step of the authors' notebook (``Encoder.forward``): the whole network gives the logits,
    then the areas run again for the head. In training mode each pass updates the batch-norm
    running statistics, so they move twice per step; the forward values and gradients equal one
    pass's (same weights, same batch). Wraps the network that is saved; eval needs one pass.

    CORnet-S has no dropout or other random layer, and training-mode batch norm normalises with the
    batch's own statistics, so its second pass recomputes the first exactly. Its one effect, a second
    update of each running statistic with the same batch statistics, (1 − m)²·r + (1 − (1 − m)²)·b, is
    one update with momentum 1 − (1 − m)²: CORnet-S runs once with that momentum and its counts
    stepped twice, at half the cost. Other backbones run both passes (a dropout layer would draw a
    second mask)."""

    def __init__(self, network: ReAlnet):
        super().__init__()
        self.network = network
        norms = [m for m in network.backbone.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
        self.once = isinstance(network.backbone, CORnetS) and all(m.momentum is not None for m in norms)
        if self.once:
            self.norms = [m for m in norms if m.track_running_stats]
            for norm in self.norms:
                norm.momentum = 1 - (1 - norm.momentum) ** 2

    def forward(self, images):
        if self.once:
            outputs = self.network(images)
            for norm in self.norms:
                if norm.training:  # the second pass's count, as each pass counts in training mode
                    norm.num_batches_tracked.add_(1)
            return outputs
        logits = self.network.backbone(images)
        if self.network.taps is not None:
            self.network.taps.take()  # the first pass's layer outputs: the head reads the second's
        return logits, self.network(images)[1]


def starting_backbone(recipe, progress: bool = True):
    """(the starting network, its spec): bad layers or regions are refused before any weights are
    read; then the recipe's file, else the library's ImageNet weights; NaN or infinite weights are
    refused (every loss would be NaN)."""
    network = create(recipe.backbone)
    spec = describe(recipe.backbone, network, recipe.image_size, recipe.layers, recipe.regions, recipe.pool)
    cornet, file = recipe.backbone == CORNET, recipe.backbone_weights
    if file:
        state = split_state_dict(read_checkpoint(file).state_dict, cornet=cornet)[0]
    else:
        state = split_state_dict(read_checkpoint(resolve(CORNET, progress)).state_dict)[0] if cornet \
            else pretrained_state(recipe.backbone, progress)
    load_strict(network, state, file or recipe.backbone, 'CORnet-S' if cornet else recipe.backbone)
    bad = [name for name, tensor in network.state_dict().items()  # a float64 sum is finite iff every value is
           if tensor.is_floating_point() and not torch.isfinite(tensor.sum(dtype=torch.float64))]
    if bad:
        source = file or f'the published {"CORnet-S" if cornet else recipe.backbone} weights'
        raise RealnetError(f'{source}: {len(bad)} weight tensors hold NaN or infinite values (first: {bad[0]}); '
                           'training cannot start from them')
    return network.train(), spec
