import numpy as np
import pytest
import torch
from torch.nn import functional as F

from realnet_brainscore.training.loss import classification_loss, correlation_matrix, generation_loss


def test_correlation_matrix_equals_numpy():
    rng = np.random.default_rng(0)
    pred, eeg = rng.normal(size=(6, 40)), rng.normal(size=(6, 40))
    expected = np.corrcoef(pred, eeg)[:6, 6:]
    r = correlation_matrix(torch.tensor(pred), torch.tensor(eeg)).numpy()
    np.testing.assert_allclose(r, expected, atol=1e-5)


def test_generation_loss_terms_by_hand():
    rng = np.random.default_rng(1)
    pred, eeg = rng.normal(size=(5, 30)), rng.normal(size=(5, 30))
    terms = generation_loss(torch.tensor(pred), torch.tensor(eeg))
    r = np.corrcoef(pred, eeg)[:5, 5:]
    matched, unmatched = np.diag(r).mean(), r[~np.eye(5, dtype=bool)].mean()
    assert float(terms['matched_r']) == pytest.approx(matched, abs=1e-5)
    assert float(terms['unmatched_r']) == pytest.approx(unmatched, abs=1e-5)
    assert float(terms['gen']) == pytest.approx(((pred - eeg) ** 2).mean() + 1 - matched + unmatched, abs=1e-5)


def test_correlation_terms_carry_gradient():
    """The published script detached its correlation terms (the paper recipe keeps that); with
    the gradient on (the default here, the improved recipe) a step along the gradient of the
    correlation part alone raises the matched and lowers the unmatched correlation."""
    torch.manual_seed(0)
    pred = torch.randn(8, 50, requires_grad=True)
    eeg = torch.randn(8, 50)
    terms = generation_loss(pred, eeg)
    (1 - terms['matched_r'] + terms['unmatched_r']).backward()
    assert pred.grad.abs().sum() > 0
    with torch.no_grad():
        moved = generation_loss(pred - 5.0 * pred.grad, eeg)
    assert moved['matched_r'] > terms['matched_r'] and moved['unmatched_r'] < terms['unmatched_r']


def test_classification_losses():
    torch.manual_seed(0)
    student, teacher = torch.randn(4, 10), torch.randn(4, 10)
    soft = -(teacher.softmax(1) * student.log_softmax(1)).sum(1).mean()
    assert float(classification_loss(student, teacher, 'soft')) == pytest.approx(float(soft), rel=1e-5)
    assert float(classification_loss(student, teacher, 'hard')) == pytest.approx(
        float(F.cross_entropy(student, teacher.argmax(1))), rel=1e-6)
    assert float(classification_loss(student, teacher, 'mse')) == pytest.approx(
        float(((student - teacher) ** 2).mean()), rel=1e-6)
    with pytest.raises(ValueError, match='unknown classification loss'):
        classification_loss(student, teacher, 'kl')


def test_detached_correlation_counts_in_the_value_but_not_the_gradient():
    """The authors' form (paper recipe): d gen / d pred is that of the MSE alone, while the value
    of gen still holds 1 − matched r + unmatched r."""
    torch.manual_seed(1)
    eeg = torch.randn(8, 50)
    pred = torch.randn(8, 50, requires_grad=True)
    terms = generation_loss(pred, eeg, correlation_gradient=False)
    (gen_gradient,) = torch.autograd.grad(terms['gen'], pred)
    (mse_gradient,) = torch.autograd.grad(F.mse_loss(pred, eeg), pred)
    torch.testing.assert_close(gen_gradient, mse_gradient)
    terms = {k: v.detach() for k, v in terms.items()}
    correlation = 1 - terms['matched_r'] + terms['unmatched_r']
    assert float(terms['gen']) == pytest.approx(float(terms['mse'] + correlation), abs=1e-6)
    assert float(correlation) > 0.5  # unrelated vectors: r ≈ 0, so the logged part is ≈ 1
    same = generation_loss(pred.detach(), eeg, correlation_gradient=True)
    assert all(float(terms[k]) == pytest.approx(float(same[k]), abs=1e-6) for k in terms)


def test_differentiable_correlation_adds_to_the_gradient():
    """The improved recipe: the correlation part moves the predictions too."""
    torch.manual_seed(1)
    eeg = torch.randn(8, 50)
    pred = torch.randn(8, 50, requires_grad=True)
    (gen_gradient,) = torch.autograd.grad(generation_loss(pred, eeg, correlation_gradient=True)['gen'], pred)
    (mse_gradient,) = torch.autograd.grad(F.mse_loss(pred, eeg), pred)
    assert (gen_gradient - mse_gradient).abs().max() > 0.1 * mse_gradient.abs().max()
