"""Named training recipes: `paper` (the authors' notebook, the default) and `improved`; flags override them."""
from dataclasses import replace

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from factories import eeg_window
from realnet_brainscore import RealnetError, cli
from realnet_brainscore.cornet import CORnetS
from realnet_brainscore.data.things_eeg2 import load_subject
from realnet_brainscore.training import RECIPES, Recipe, train
from realnet_brainscore.training.distributed import Distributed
from realnet_brainscore.training.objective import Aligner
from realnet_brainscore.training.run_data import RunData
from realnet_brainscore.training.targets import zscore_statistics

PAPER = {'classification': 'hard', 'correlation_gradient': False, 'zscore': 'subject', 'forward_passes': 2,
         'precision': 'fp32'}
IMPROVED = {'classification': 'soft', 'correlation_gradient': True, 'zscore': 'feature', 'forward_passes': 1,
            'precision': 'bf16'}


def _knobs(recipe):
    return {k: getattr(recipe, k) for k in PAPER}


def test_recipes_resolve_and_single_settings_override():
    assert RECIPES == {'paper': PAPER, 'improved': IMPROVED}
    default = Recipe()
    assert default.recipe == 'paper' and _knobs(default) == dict.fromkeys(PAPER)  # None: from the recipe
    assert _knobs(default.resolved()) == PAPER
    assert (default.lr, default.batch_size, default.epochs, default.beta, default.seed) == (2e-5, 16, 30, 100.0, 2023)
    assert default.select_on == 'validation' and default.backbone_weights is None  # ImageNet CORnet-S start
    assert _knobs(Recipe(recipe='improved').resolved()) == IMPROVED
    assert _knobs(Recipe(classification='soft').resolved()) == {**PAPER, 'classification': 'soft'}
    assert _knobs(Recipe(recipe='improved', correlation_gradient=False).resolved()) == {
        **IMPROVED, 'correlation_gradient': False}
    record = Recipe(zscore='feature').record()
    assert {k: record[k] for k in ('recipe', 'select_on', *PAPER)} == {
        'recipe': 'paper', 'select_on': 'validation', **PAPER, 'zscore': 'feature'}
    with pytest.raises(RealnetError, match="unknown `recipe` 'fast'; choose paper or improved"):
        Recipe(recipe='fast').resolved()
    with pytest.raises(RealnetError, match="unknown `zscore` 'channel'; choose subject or feature"):
        Recipe(zscore='channel').check()
    with pytest.raises(RealnetError, match="unknown `select_on` 'train'"):
        Recipe(select_on='train').check()


def test_cli_flags_reach_the_recipe_unset_ones_stay_with_the_recipe(monkeypatch, capsys):
    from realnet_brainscore import training
    seen = []
    monkeypatch.setattr(training, 'train', lambda source, recipe, runtime, on_epoch_end=None: seen.append(recipe) or {})
    common = ['train', '--subject', '1', '--things-eeg2', 'x', '--out', 'y', '-q']
    assert cli.main(common) == 0
    assert seen[-1].recipe == 'paper' and _knobs(seen[-1].resolved()) == PAPER
    assert seen[-1].select_on == 'validation'
    assert cli.main([*common, '--classification', 'soft', '--zscore', 'feature', '--select-on', 'test']) == 0
    assert _knobs(seen[-1].resolved()) == {**PAPER, 'classification': 'soft', 'zscore': 'feature'}
    assert seen[-1].select_on == 'test'
    assert cli.main([*common, '--recipe', 'improved', '--no-correlation-gradient']) == 0
    assert _knobs(seen[-1].resolved()) == {**IMPROVED, 'correlation_gradient': False}
    assert cli.main([*common, '--correlation-gradient']) == 0
    assert _knobs(seen[-1].resolved()) == {**PAPER, 'correlation_gradient': True}
    with pytest.raises(SystemExit) as exit_:
        cli.main([*common, '--recipe', 'fast'])
    assert exit_.value.code == 2 and "invalid choice: 'fast'" in capsys.readouterr().err
    assert len(seen) == 4


def test_checkpoint_records_the_resolved_recipe_and_resume_refuses_another(aligned):
    (source, recipe, runtime), summary = aligned  # the conftest run: Recipe defaults, so the paper recipe
    checkpoint = torch.load(summary['best_checkpoint'], weights_only=True)
    recorded = checkpoint['meta']['config']
    assert {k: recorded[k] for k in ('recipe', 'select_on', *PAPER)} == {
        'recipe': 'paper', 'select_on': 'validation', **PAPER}
    assert (recorded['lr'], recorded['batch_size'], recorded['beta'], recorded['seed']) == (6e-5, 16, 100.0, 2023)
    assert checkpoint['eeg_mean'].shape == checkpoint['eeg_std'].shape == (1,)  # one mean and SD per subject
    resume = replace(runtime, resume=True)
    with pytest.raises(RealnetError, match=r'`resume` with other settings than the run \(classification, '
                                           r'correlation_gradient, forward_passes, precision, recipe, zscore\)'):
        train(source, replace(recipe, recipe='improved'), resume)
    with pytest.raises(RealnetError, match=r'other settings than the run \(classification\)'):
        train(source, replace(recipe, classification='soft'), resume)


@pytest.fixture(scope='module')
def aligner():
    """A small student (10 classes, 32 px, 20 EEG values) with the paper recipe."""
    torch.manual_seed(1)
    return Aligner(CORnetS(num_classes=10), 20, Recipe(image_size=32), 'cpu')


def test_paper_recipe_trains_on_ce_plus_beta_mse_and_logs_the_correlation_part(aligner):
    """Aligner.losses with each recipe: the paper loss's gradient is that of CE + β·MSE, its value
    holds β·(1 − matched r + unmatched r) as well; the improved loss's correlation part has a gradient."""
    torch.manual_seed(0)
    x, eeg = torch.randn(6, 3, 32, 32), torch.randn(6, 20)
    # the head and the logit layer: the paths of the generation and the classification term (and cheap)
    weights = [*aligner.network.head.parameters(), *aligner.network.backbone.decoder.parameters()]

    def gradient(objective):
        terms = aligner.losses(x, eeg)
        gradients = torch.autograd.grad(objective(terms), weights)
        return {k: v.detach() for k, v in terms.items()}, torch.cat([g.flatten() for g in gradients])

    effective = lambda terms: terms['cls'] + 100 * terms['mse']  # noqa: E731
    for recipe in ('paper', 'improved'):
        aligner.recipe = Recipe(recipe=recipe, image_size=32).resolved()
        terms, total = gradient(lambda terms: terms['loss'])
        _, without_correlation = gradient(effective)
        correlation = 1 - terms['matched_r'] + terms['unmatched_r']
        assert float(terms['loss']) == pytest.approx(float(effective(terms) + 100 * correlation), rel=1e-5)
        assert float(correlation) > 0.5  # random targets: the logged part is far from 0
        if recipe == 'paper':
            torch.testing.assert_close(total, without_correlation, rtol=1e-4, atol=1e-6)
        else:
            assert (total - without_correlation).abs().max() > 1e-3 * without_correlation.abs().max()
    aligner.recipe = Recipe(image_size=32).resolved()


def test_hard_targets_are_the_eval_mode_teachers_argmax(aligner):
    torch.manual_seed(2)
    x, eeg = torch.randn(6, 3, 32, 32), torch.randn(6, 20)
    assert not aligner.teacher.training and aligner.network.training
    with torch.no_grad():
        teacher_logits = aligner.teacher(x)
        student_logits, _ = aligner.network(x)
        cls = aligner.losses(x, eeg)['cls']
    assert float(cls) == pytest.approx(float(F.cross_entropy(student_logits, teacher_logits.argmax(1))), rel=1e-5)
    assert float(cls) != pytest.approx(float(F.cross_entropy(student_logits, teacher_logits.softmax(1))), rel=1e-3)


def test_subject_zscore_keeps_the_features_relative_scale():
    rng = np.random.default_rng(0)
    scales, offsets = np.array([1.0, 10.0, 100.0]), np.array([0.0, 5.0, -5.0])
    raw = (rng.normal(size=(200, 3)) * scales + offsets).astype(np.float32)
    train_rows = np.arange(180)
    mean, std = zscore_statistics(raw, train_rows, 'subject')
    assert mean.shape == std.shape == (1,)
    z = (raw - mean) / std
    assert z.mean() == pytest.approx(0, abs=1e-5) and z.std() == pytest.approx(1, abs=1e-4)  # one array
    np.testing.assert_allclose(z.std(0) / z.std(0)[0], raw.std(0) / raw.std(0)[0], rtol=1e-4)  # 1 : 10 : 100
    mean, std = zscore_statistics(raw, train_rows, 'feature')
    assert mean.shape == std.shape == (3,)
    z = (raw[train_rows] - mean) / std
    np.testing.assert_allclose(z.mean(0), 0, atol=1e-4)
    np.testing.assert_allclose(z.std(0), 1, atol=1e-4)


def test_select_on_test_selects_on_the_test_images_and_warns(small, tmp_path, capsys):
    code = cli.main(small.train_args(tmp_path / 'out', '--epochs', '1', '--select-on', 'test', '-q'))
    err = capsys.readouterr().err
    assert code == 0
    warnings = [line for line in err.splitlines() if 'evaluation set' in line]
    assert len(warnings) == 1 and warnings[0].startswith('warning: `select_on` test selects the epoch on the test')
    # one epoch: the first sets the bar and is never best.pt (the authors' rule)
    assert not (tmp_path / 'out' / 'sub-02' / 'best.pt').exists()
    meta = torch.load(tmp_path / 'out' / 'sub-02' / 'last.pt', weights_only=True)['meta']
    assert meta['config']['select_on'] == 'test'
    assert meta['n_validation_images'] == 10 and meta['n_train_images'] == 20  # as the authors: all train

    data = RunData(small.source(), small.recipe(select_on='test'), small.runtime(tmp_path), Distributed(), 'cpu')
    test = eeg_window(load_subject(small.things_eeg2, 2, 'test', average_repetitions=True))
    np.testing.assert_allclose(data.validation.targets.numpy(), (test - data.mean) / data.std, rtol=1e-6)
    assert data.mean.shape == (1,)  # the training statistics, paper recipe
