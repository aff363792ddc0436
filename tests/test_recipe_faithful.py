"""The `paper` recipe as the authors' Train_ReAlnet.ipynb runs it: two forward passes per step (batch-norm
running statistics updated twice), argmax targets from fp32 teacher logits, and --select-on test with the
notebook's rule (the first epoch is the bar and never best; strictly lower only; the unweighted batch mean)."""
import copy
import json
from collections import OrderedDict
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn
from torch.nn import functional as F

from realnet_brainscore import RealnetError, cli
from realnet_brainscore.cornet import CORnetS
from realnet_brainscore.training import Recipe, loop
from realnet_brainscore.training import checkpointing
from realnet_brainscore.encoder import EncodingHead, ReAlnet
from realnet_brainscore.training.objective import TERMS, Aligner, NotebookStep

PX, BATCH, N_OUT = 32, 4, 20


def _aligner(student=None, **settings) -> Aligner:
    torch.manual_seed(1)
    return Aligner(student or CORnetS(num_classes=10), N_OUT, Recipe(image_size=PX, **settings), 'cpu')


def _tiny_cornet() -> nn.Sequential:
    """V1, V2, V4, IT with batch norm and a decoder, as CORnet-S's children are named, but 8 channels wide."""
    torch.manual_seed(5)
    def area(c_in):
        return nn.Sequential(nn.Conv2d(c_in, 8, 3, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU())
    return nn.Sequential(OrderedDict([('V1', area(3)), ('V2', area(8)), ('V4', area(8)), ('IT', area(8)),
                                      ('decoder', nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                                                nn.Linear(8, 10)))]))


def _norms(module: nn.Module) -> dict:
    return {k: v for k, v in module.state_dict().items() if 'running' in k or 'num_batches' in k}


def _notebook_forward(cornet, x):
    """``Encoder.forward`` of the notebook: ``outputs = self.realnet(imgs)``, then V1 → V2 → V4 → IT again."""
    outputs = cornet(x)
    v1 = cornet.V1(x)
    v2 = cornet.V2(v1)
    v4 = cornet.V4(v2)
    return outputs, [v1, v2, v4, cornet.IT(v4)]


def _notebook_steps(network, teacher, batches, lr: float, beta: float):
    """The notebook's ``train_and_test`` training step, written out by hand on a copy: its forward,
    the head on the second pass's areas, CE against the teacher's argmax + β·MSE (the correlation part
    carries no gradient), backward, Adam (not fused, as theirs)."""
    optimizer = torch.optim.Adam(network.parameters(), lr=lr)
    head = network.head
    for x, eeg in batches:
        optimizer.zero_grad()
        outputs, areas = _notebook_forward(network.backbone, x)
        n = len(x)
        features = [F.relu(fc(area.reshape(n, -1))) for fc, area in zip(
            (head.fc_v1, head.fc_v2, head.fc_v4, head.fc_it), areas)]
        pred = head.fc(torch.cat(features, dim=1))
        with torch.no_grad():
            targets = torch.argmax(teacher(x), dim=1)
        loss = F.cross_entropy(outputs, targets) + beta * F.mse_loss(pred, eeg)
        loss.backward()
        optimizer.step()


@pytest.fixture(scope='module')
def batches():
    generator = torch.Generator().manual_seed(0)
    return [(torch.randn(BATCH, 3, PX, PX, generator=generator), torch.randn(BATCH, N_OUT, generator=generator))
            for _ in range(2)]


def test_two_passes_update_batch_norm_as_the_notebooks_step(batches):
    """After 2 steps the paper recipe's running statistics and weights equal the hand-written notebook
    step's; one pass per step (improved's) leaves other running statistics."""
    aligner = _aligner(_tiny_cornet())
    assert aligner.recipe.forward_passes == 2 and aligner.recipe.precision == 'fp32'
    reference, teacher = copy.deepcopy(aligner.network), copy.deepcopy(aligner.teacher)
    one_pass = _aligner(_tiny_cornet(), forward_passes=1)
    for x, eeg in batches:
        aligner.train_step(eeg, x, aligner.teacher_logits(x))
        one_pass.train_step(eeg, x, one_pass.teacher_logits(x))
    _notebook_steps(reference, teacher, batches, aligner.recipe.lr, aligner.recipe.beta)
    ours, theirs, single = _norms(aligner.network), _norms(reference), _norms(one_pass.network)
    assert int(ours['backbone.V1.1.num_batches_tracked']) == 4 and int(single['backbone.V1.1.num_batches_tracked']) == 2
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], rtol=1e-5, atol=1e-7, msg=name)
    assert (single['backbone.V1.1.running_mean'] - theirs['backbone.V1.1.running_mean']).abs().max() > 1e-3
    weights = dict(reference.named_parameters())
    for name, weight in aligner.network.named_parameters():
        torch.testing.assert_close(weight, weights[name], rtol=1e-5, atol=1e-7, msg=name)


def test_cornet_s_runs_once_with_the_statistics_and_gradients_of_the_notebooks_two_passes(batches):
    """CORnet-S (its areas handed out directly, no random layer) runs one pass with the second update
    folded into its batch-norm momentum: over two batches its running statistics and counts, and each
    batch's gradients, equal those of the notebook's two training-mode passes (rounding apart)."""
    torch.manual_seed(1)
    cornet = CORnetS(num_classes=10)
    network = ReAlnet(cornet, EncodingHead.for_backbone(cornet, PX, N_OUT)).train()
    reference = copy.deepcopy(network).train()
    step = NotebookStep(network)
    assert network.direct and step.once
    for x, eeg in batches:
        network.zero_grad()
        reference.zero_grad()
        logits, pred = step(x)
        (F.cross_entropy(logits, logits.argmax(1).detach()) + F.mse_loss(pred, eeg)).backward()
        outputs, areas = _notebook_forward(reference.backbone, x)
        head = reference.head
        features = [F.relu(fc(area.reshape(len(x), -1))) for fc, area in zip(
            (head.fc_v1, head.fc_v2, head.fc_v4, head.fc_it), areas)]
        reference_pred = head.fc(torch.cat(features, dim=1))
        (F.cross_entropy(outputs, outputs.argmax(1).detach()) + F.mse_loss(reference_pred, eeg)).backward()
        theirs = dict(reference.named_parameters())
        for name, weight in network.named_parameters():
            scale = theirs[name].grad.abs().max().item()
            torch.testing.assert_close(weight.grad, theirs[name].grad, rtol=0, atol=1e-4 * scale + 1e-12, msg=name)
    ours, theirs = _norms(cornet), _norms(reference.backbone)
    assert int(ours['IT.norm1_0.num_batches_tracked']) == 4
    for name in ours:
        torch.testing.assert_close(ours[name], theirs[name], rtol=1e-5, atol=1e-6, msg=name)


class NearTie(nn.Module):
    """A teacher whose two logits differ by about 1e-3 of their size: bf16 (8 bits of mantissa) rounds
    them to equal or swapped values, fp32 keeps the order (logit 1 above logit 0)."""

    def __init__(self):
        super().__init__()
        generator = torch.Generator().manual_seed(3)
        self.row = nn.Parameter(torch.rand(3 * PX * PX, generator=generator) + 1, requires_grad=False)

    def forward(self, x):
        base = x.flatten(1) @ self.row
        return torch.stack([base, base * (1 + 2 ** -11)], dim=1)


def test_argmax_targets_come_from_fp32_logits_when_the_student_runs_in_bf16():
    x = torch.rand(64, 3, PX, PX, generator=torch.Generator().manual_seed(4)) + 0.5
    teacher = NearTie()
    fp32 = teacher(x).argmax(1)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        rounded = teacher(x).argmax(1)
    assert (fp32 == 1).all() and (rounded != fp32).float().mean() > 0.5  # bf16 flips them
    aligner = _aligner(_tiny_cornet(), precision='bf16', forward_passes=1)
    assert not aligner.autocast  # the CPU trains in fp32 whatever `precision` says
    aligner.autocast, aligner.teacher = True, teacher  # CPU bf16 autocast: the stand-in for CUDA
    logits = aligner.teacher_logits(x)
    assert logits.dtype == torch.float32 and torch.equal(logits.argmax(1), fp32)
    with aligner._amp():
        student_logits, _ = aligner.network(x[:2])
    assert student_logits.dtype == torch.bfloat16  # the student does run in bf16
    aligner.recipe = Recipe(image_size=PX, precision='bf16', classification='soft').resolved()
    assert aligner.teacher_logits(x).dtype == torch.bfloat16  # probabilities: no argmax to flip


def test_precision_and_passes_are_checked_recorded_and_resume_compares_them():
    with pytest.raises(RealnetError, match="unknown `precision` 'fp16'; choose fp32 or bf16"):
        Recipe(precision='fp16').check()
    with pytest.raises(RealnetError, match="unknown `forward_passes` 3; choose 1 or 2"):
        Recipe(forward_passes=3).check()
    with pytest.raises(RealnetError, match="unknown `forward_passes` True"):
        Recipe(forward_passes=True).check()
    record = Recipe().record()
    assert (record['forward_passes'], record['precision']) == (2, 'fp32')
    old = {k: v for k, v in record.items() if k not in ('forward_passes', 'precision')}  # a run before them
    assert checkpointing.changed_settings(old, record) == ['forward_passes', 'precision']
    assert checkpointing.changed_settings(old, Recipe(forward_passes=1, precision='bf16').record()) == []


@pytest.mark.parametrize('losses, saved, bar', [
    ([1.0, 1.2, 0.9, 0.9], [3], 0.9),   # the 4th ties the 3rd: strict <
    ([1.0, 1.1], [], 1.0),              # nothing beats the first: no best.pt
    ([1.0, 0.5, 0.7, 0.4], [2, 4], 0.4),
])
def test_selection_on_test_follows_the_notebook(losses, saved, bar):
    best, kept = float('inf'), []
    for epoch, loss in enumerate(losses, 1):
        improved, best = loop.selects('test', epoch, loss, best)
        kept += [epoch] * improved
    assert kept == saved and best == bar
    log = [{'epoch': e, 'val_loss': v} for e, v in enumerate(losses, 1)]
    chosen = checkpointing.selected(log, 'test')
    assert (chosen and chosen['epoch']) == (saved[-1] if saved else None)
    assert checkpointing.selected(log, 'validation')['epoch'] == int(np.argmin(losses)) + 1  # today's rule
    assert loop.selects('validation', 1, 1.0, float('inf')) == (True, 1.0)


def test_test_loss_is_the_unweighted_mean_over_batches():
    """10 test images in batches of 4, 4 and 2 whose losses are 1, 1 and 4: the notebook's mean is
    (1 + 1 + 4) / 3 = 2; per image it would be 1.6 (still the rule of held-out training images)."""
    losses = iter([1.0, 1.0, 4.0] * 2)

    class Fake:
        cuda = False

        def held_out_terms(self, targets, x, teacher_logits):
            return {t: torch.tensor(next(losses) if t == 'loss' else 0.0) for t in TERMS}

        def teacher_logits(self, x):
            return None

    class Part(SimpleNamespace):
        def __len__(self):
            return len(self.indices)

    part = Part(indices=np.arange(10), images=lambda i, c: None, targets_of=lambda i: None,
                teacher_logits=lambda i, x, teacher: teacher(x))
    for select_on, expected in (('test', 2.0), ('validation', 1.6)):
        run = SimpleNamespace(data=SimpleNamespace(validation=part), aligner=Fake(),
                              recipe=Recipe(batch_size=4, select_on=select_on))
        assert loop._validate([run])[0]['val_loss'] == pytest.approx(expected)


def test_a_run_where_no_epoch_beats_the_first_saves_no_best_and_says_so(small, tmp_path, monkeypatch, capsys):
    """Planted test losses 1.0, 1.1: one warning line, no best.pt, a summary without a best epoch; a
    later epoch that beats the first (0.8) writes best.pt on resume."""
    planted = iter([1.0, 1.1, 0.8])
    monkeypatch.setattr(loop, '_validate', lambda runs: [{f'val_{t}': next(planted) if t == 'loss' else 0.0
                                                          for t in TERMS} for _ in runs])
    out = tmp_path / 'out'
    common = small.train_args(out, '--select-on', 'test', '-q', '--forward-passes', '1', subjects=('--subject', '1'))
    assert cli.main([*common, '--epochs', '2']) == 0
    captured = capsys.readouterr()
    warnings = [line for line in captured.err.splitlines() if 'no best.pt' in line]
    assert len(warnings) == 1 and 'epoch 1: 1.0000' in warnings[0]
    assert 'no best epoch (none beat the first)' in captured.out
    summary = json.loads((out / 'sub-01' / 'summary.json').read_text())
    assert summary['best_epoch'] is None and summary['best_checkpoint'] is None
    assert not (out / 'sub-01' / 'best.pt').exists()
    assert cli.main([*common, '--epochs', '3', '--resume']) == 0  # no best.pt yet is no incomplete run
    summary = json.loads((out / 'sub-01' / 'summary.json').read_text())
    assert (summary['best_epoch'], summary['best_val_loss']) == (3, 0.8) and (out / 'sub-01' / 'best.pt').exists()
