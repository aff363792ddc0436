"""ReAlnet's loss: keep classifying like the frozen teacher, and generate the subject's EEG.

Loss = L_cls + β · L_gen with L_gen = MSE(pred, eeg) + (1 − mean matched r + mean unmatched r),
where r is the Pearson correlation between a predicted and a recorded EEG vector over the batch.
The authors' notebook gathered its r values in a Python list and wrapped them in a new tensor,
which detaches them: their correlation part is logged but carries no gradient (the `paper`
recipe, ``correlation_gradient=False``). Here the batch's correlation matrix is one matrix product,
differentiable when ``correlation_gradient=True`` (the `improved` recipe).
"""
import torch
from torch.nn import functional as F

CLASSIFICATION_LOSSES = ('soft', 'hard', 'mse')


def correlation_matrix(pred: torch.Tensor, eeg: torch.Tensor, eps: float = 1e-8) -> torch.Tensor:
    """Pearson r between every predicted row i and recorded row j (batch × batch)."""
    p = pred.float() - pred.float().mean(1, keepdim=True)
    e = eeg.float() - eeg.float().mean(1, keepdim=True)
    p = p / (p.norm(dim=1, keepdim=True) + eps)
    e = e / (e.norm(dim=1, keepdim=True) + eps)
    return p @ e.T


def generation_loss(pred: torch.Tensor, eeg: torch.Tensor,
                    correlation_gradient: bool = True) -> dict[str, torch.Tensor]:
    """{'mse', 'matched_r', 'unmatched_r', 'gen'}; unmatched_r is 0 for a batch of one.

    Without ``correlation_gradient`` the correlation part still counts in 'gen' (as the authors'
    loss value does) but only the MSE part moves the weights.
    """
    r = correlation_matrix(pred if correlation_gradient else pred.detach(), eeg)
    n = r.shape[0]
    matched = r.diagonal().mean()
    unmatched = (r.sum() - r.diagonal().sum()) / (n * n - n) if n > 1 else r.new_zeros(())
    mse = F.mse_loss(pred.float(), eeg.float())
    return {'mse': mse, 'matched_r': matched, 'unmatched_r': unmatched, 'gen': mse + 1 - matched + unmatched}


def classification_loss(student_logits: torch.Tensor, teacher_logits: torch.Tensor, kind: str = 'soft'):
    """Agreement with the teacher: soft targets (its probabilities), hard (its argmax) or MSE of logits."""
    student, teacher = student_logits.float(), teacher_logits.float()
    if kind == 'soft':
        return F.cross_entropy(student, teacher.softmax(1))
    if kind == 'hard':
        return F.cross_entropy(student, teacher.argmax(1))
    if kind == 'mse':
        return F.mse_loss(student, teacher)
    raise ValueError(f'unknown classification loss {kind!r}; choose from {CLASSIFICATION_LOSSES}')
