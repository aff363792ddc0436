"""`brainscore train`: align CORnet-S (or another backbone) with subjects' EEG or fMRI.

The library checks every setting and names it in its errors; options.with_flags turns those names into
this command's flags."""
import argparse
from pathlib import Path

from ..backbones import parse_regions
from ..data import shen2019, things_eeg2
from ..errors import RealnetError
from ..training import RECIPES, Recipe, Runtime, Source
from ..training.allocator import keep_freed_memory
from ..training.loss import CLASSIFICATION_LOSSES
from ..training.recipe import COMPILE_MODES, EEG_WINDOW, FORWARD_PASSES, PRECISIONS, SELECT_ON, ZSCORES
from ..training.targets import FMRI_DIMENSIONS
from .options import command, flag, positive, subject_range

RECIPE_LABELS = {'paper': "(default) the authors' notebook", 'improved': "this package's variant"}


def _recipe_flags(name: str) -> str:
    """A named recipe as the flags that would give it, e.g. --classification hard --no-correlation-gradient."""
    return ' '.join(_flag_with_value(setting, value) for setting, value in RECIPES[name].items())


def _flag_with_value(setting: str, value) -> str:
    if value is True:
        return flag(setting)
    return f'--no-{flag(setting)[2:]}' if value is False else f'{flag(setting)} {value}'


def _by_recipe(setting: str) -> str:
    """'paper: hard, improved: soft'."""
    words = {True: 'yes', False: 'no'}
    return ', '.join(f'{name}: {words.get(recipe[setting], recipe[setting])}' for name, recipe in RECIPES.items())


RECIPES_TEXT = '\n'.join([
    "recipes (--recipe; a flag given explicitly overrides the recipe's value):",
    *(f'  {name:9} {RECIPE_LABELS[name]}: {_recipe_flags(name)}' for name in RECIPES),
    f'every recipe: Adam lr {Recipe.lr:g}, batch {Recipe.batch_size}, {Recipe.epochs} epochs, beta {Recipe.beta:g}, '
    f'seed {Recipe.seed}, ImageNet CORnet-S start;',
    'the checkpoint records the resolved settings and the recipe, and --resume must match them.',
    """loss: classification against the frozen teacher + beta * (MSE + 1 - mean matched r + mean unmatched r);
without --correlation-gradient the correlation part is logged but carries no gradient.
model selection: --select-on validation (default) keeps the epoch with the lowest loss on held-out
training images; --select-on test selects on the test images as the authors did: the first epoch's
test loss (their epoch 0) is the bar and is never saved; a later epoch is kept only if its loss, the
unweighted mean over the test batches, is strictly lower (if none is, no best.pt is written).

other backbones (--backbone): any torchvision classifier (resnet50, vit_b_16, ...) or timm:NAME
(pip install 'realnet-brainscore[timm]'); the head reads --layers (default: the ResNet family's
layer1-4), Brain-Score reads each region from --regions (default: V1 the first layer, IT the last)
and the behavioural readout from the module before the classifier. --pool N keeps a large
network's head small.""",
    f"""fMRI (--shen2019, ReAlnet-fMRI): the subject's visual-cortex voxels of Shen 2019's training
session, averaged over repetitions and reduced to {FMRI_DIMENSIONS} principal components fitted on the training
part (the authors' targets had 1,024 dimensions; their reduction is not published).
group (--subjects LIST --group): one model generating every listed subject's responses (one head
output per subject and feature, each subject z-scored on its own); written to RUNDIR/group/.
together (--subjects LIST --together): the subjects' models trained side by side in one process:
every batch is prepared once and the frozen teacher runs once for all, then each model steps;
each RUNDIR/sub-XX/ is what training that subject alone writes (the same losses and weights),
and --resume continues every one."""])


def _span(subjects) -> str:
    return f'{subjects[0]}-{subjects[-1]}'


def add_parsers(commands):
    parser = command(commands, 'train', run, help="align CORnet-S or another network with subjects' EEG or fMRI",
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     description="Fine-tune CORnet-S (or --backbone) to generate a THINGS-EEG2 subject's EEG (or a "
                                 "Shen 2019 subject's fMRI) while\nclassifying like its frozen copy; writes "
                                 'RUNDIR/sub-XX/{last,best}.pt, log.jsonl and summary.json.\n\n' + RECIPES_TEXT)
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument('--subject', type=int, metavar='N', help=f'one subject, {_span(things_eeg2.SUBJECTS)} '
                                                              f'(fMRI: {_span(shen2019.SUBJECTS)})')
    who.add_argument('--subjects', type=subject_range, metavar='LIST', help='several, e.g. 1-10 or 1,3')
    how = parser.add_mutually_exclusive_group()
    how.add_argument('--group', action='store_true', help='with --subjects: one model for all of them')
    how.add_argument('--together', action='store_true',
                     help='with --subjects: train their models side by side in one pass (same batches, one '
                          'teacher pass per batch); each run folder is as if trained alone')
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument('--things-eeg2', metavar='DIR', help='THINGS-EEG2 folder (OSF layout): EEG alignment')
    data.add_argument('--shen2019', metavar='DIR', help='Shen 2019 folder with the training-session h5 files and '
                                                        'images/: fMRI alignment')
    data.add_argument('--data', metavar='CARD', help="a data-set card (brainscore data init): its subject sub-NN's "
                                                     'EEG, MEG or fMRI on its training images (the card must name its '
                                                     "test images); the card's window and channels are the defaults")
    parser.add_argument('--drop-nan-voxels', action='store_true',
                        help='fMRI: leave out voxels with NaN values instead of refusing the data')
    parser.add_argument('--out', required=True, metavar='RUNDIR')
    _add_backbone(parser)
    _add_optimisation(parser)
    _add_recipe(parser)
    _add_passes_and_precision(parser)
    _add_selection(parser)
    parser.add_argument('--image-size', type=positive, default=Recipe.image_size, metavar='PX')
    parser.add_argument('--device', help='cuda, cuda:1, cpu (default: cuda if available)')
    parser.add_argument('--compile', choices=COMPILE_MODES, default=Recipe.compile,
                        help='torch.compile the model; reduce-overhead uses CUDA graphs (small batches)')
    parser.add_argument('--workers', type=positive, metavar='N', help='processes decoding images for the cache')
    parser.add_argument('--resume', action='store_true', help='continue the run in RUNDIR from its last epoch')


def _add_backbone(parser):
    parser.add_argument('--backbone', default=Recipe.backbone, metavar='NAME',
                        help='%(default)s (default), a torchvision classifier or timm:NAME')
    parser.add_argument('--layers', nargs='+', metavar='LAYER', help='module names the head reads')
    parser.add_argument('--regions', nargs='+', metavar='REGION=LAYER',
                        help='the layer Brain-Score reads for each of V1 V2 V4 IT')
    parser.add_argument('--pool', type=positive, metavar='N', help="average each layer's output to N×N first")
    parser.add_argument('--backbone-weights', '--cornet-weights', metavar='FILE',
                        help="start from this file (default: the library's ImageNet weights)")


def _add_optimisation(parser):
    parser.add_argument('--epochs', type=positive, default=Recipe.epochs, metavar='N', help='epochs (%(default)s)')
    parser.add_argument('--batch-size', type=positive, default=Recipe.batch_size, metavar='N',
                        help='images per step (%(default)s)')
    parser.add_argument('--lr', type=float, default=Recipe.lr, help='Adam learning rate (%(default)g)')
    parser.add_argument('--beta', type=float, default=Recipe.beta,
                        help='weight of the EEG generation loss (%(default)g)')
    parser.add_argument('--seed', type=int, default=Recipe.seed,
                        help='seed of the head, split and data order (%(default)s)')
    parser.add_argument('--window', type=float, nargs=2, metavar=('START', 'END'),
                        help='EEG window in seconds (default {:g} {:g}: 20 samples at 100 Hz)'.format(*EEG_WINDOW))
    parser.add_argument('--channels', nargs='+', metavar='CH', help='EEG channels (default: all 17)')


def _add_recipe(parser):
    parser.add_argument('--recipe', choices=list(RECIPES), default=Recipe.recipe,
                        help=f"{', '.join(f'{name}: {label}' for name, label in RECIPE_LABELS.items())} (see above)")
    parser.add_argument('--classification', choices=list(CLASSIFICATION_LOSSES),
                        help='agreement with the frozen teacher: its probabilities (soft), argmax (hard) or logits '
                             f'(mse); overrides the recipe ({_by_recipe("classification")})')
    parser.add_argument('--correlation-gradient', action=argparse.BooleanOptionalAction,
                        help='whether the correlation part of the generation loss trains the network (it is logged '
                             f'either way); overrides the recipe ({_by_recipe("correlation_gradient")})')
    parser.add_argument('--zscore', choices=list(ZSCORES),
                        help='EEG targets z-scored with one mean and SD per subject (over all its training images) '
                             f'or per feature (over the training part); overrides the recipe ({_by_recipe("zscore")})')


def _add_passes_and_precision(parser):
    parser.add_argument('--forward-passes', type=int, choices=list(FORWARD_PASSES),
                        help="forward passes per step: 2 as the authors' notebook (the whole network for the logits, "
                             'then V1 → IT again for the head: batch-norm running statistics move twice per step), '
                             f'1 one pass for both; overrides the recipe ({_by_recipe("forward_passes")})')
    parser.add_argument('--precision', choices=list(PRECISIONS),
                        help="the student's arithmetic on CUDA: fp32 as the authors, or bf16 autocast (faster); the "
                             'CPU trains in fp32, and an argmax teacher runs in fp32 always; overrides the recipe '
                             f'({_by_recipe("precision")})')


def _add_selection(parser):
    parser.add_argument('--select-on', choices=list(SELECT_ON), default=Recipe.select_on,
                        help='the epoch kept as best.pt has the lowest loss on: a held-out part of the training '
                             'images (validation, default) or, as the authors did, the test images, the evaluation '
                             'set (test: trains on every training image and warns)')
    parser.add_argument('--validation-fraction', type=float, default=Recipe.validation_fraction, metavar='F',
                        help='training images held out for model selection (%(default)s; unused with '
                             '--select-on test)')


def run(args):
    from .. import training  # looked up when run, so that a test can stand in for it
    if (args.group or args.together) and not args.subjects:
        raise RealnetError(f'{"--group" if args.group else "--together"} needs --subjects LIST')
    recipe, runtime, sources = _recipe(args), _runtime(args), _sources(args)
    if runtime.torch_device().type == 'cpu':
        keep_freed_memory()  # about 30 % faster CPU steps; this process keeps its peak memory (allocator.py)
    progress = None if args.quiet else _print_epoch
    if args.together:
        summaries = training.train_together(sources, recipe, runtime, on_epoch_end=progress)
    else:
        summaries = [training.train(source, recipe, runtime, on_epoch_end=progress) for source in sources]
    for source, summary in zip(sources, summaries):
        if summary and summary['best_epoch'] is None:
            print(f'{source.run_name}: no best epoch (none beat the first) -> {summary["final_checkpoint"]}')
        elif summary:
            print(f'{source.run_name}: best epoch {summary["best_epoch"]} ({args.select_on} loss '
                  f'{summary["best_val_loss"]:.4f}) -> {summary["best_checkpoint"]}')


def checked_settings(args) -> tuple[Recipe, list[Source]]:
    """The recipe and sources ``args`` give, checked as training checks them before any work (what
    `brainscore sweep run` checks for every cell before it submits one)."""
    recipe, sources = _recipe(args), _sources(args)
    recipe.check()
    for source in sources:
        source.check_fits(recipe)
    return recipe, sources


def _sources(args) -> list[Source]:
    data = {'things_eeg2': _path(args.things_eeg2), 'shen2019': _path(args.shen2019), 'data': _path(args.data)}
    if args.group:
        sources = [Source(**data, group=tuple(args.subjects))]
    else:
        sources = [Source(**data, subject=subject) for subject in args.subjects or [args.subject]]
    for source in sources:  # every subject before the first is trained
        source.check()
    return sources


def _recipe(args) -> Recipe:
    window, channels = args.window, args.channels
    if args.data and not (window and channels):  # a card's own window and channels by default
        from ..data.card import load_card
        card = load_card(args.data)
        window = window or (card.window if card.modality != 'fMRI' else None)
        channels = channels or card.channels
    return Recipe(
        backbone=args.backbone, layers=tuple(args.layers) if args.layers else None,
        regions=parse_regions(args.regions), pool=args.pool, backbone_weights=_path(args.backbone_weights),
        drop_nan_voxels=args.drop_nan_voxels, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
        beta=args.beta, seed=args.seed, window=tuple(window) if window else None,
        channels=tuple(channels) if channels else None, recipe=args.recipe,
        classification=args.classification, correlation_gradient=args.correlation_gradient, zscore=args.zscore,
        forward_passes=args.forward_passes, precision=args.precision, select_on=args.select_on,
        validation_fraction=args.validation_fraction, image_size=args.image_size, compile=args.compile)


def _runtime(args) -> Runtime:
    return Runtime(out=Path(args.out), device=args.device, workers=args.workers, resume=args.resume,
                   progress=not args.quiet)


def _path(text):
    return Path(text) if text else None


def _print_epoch(record):
    run = f'{record["run"]} ' if 'run' in record else ''
    print(f'{run}epoch {record["epoch"]}: train loss {record["train_loss"]:.4f} (cls {record["train_cls"]:.4f}, '
          f'gen {record["train_gen"]:.4f}, r {record["train_matched_r"]:.3f}) | validation loss '
          f'{record["val_loss"]:.4f} (r {record["val_matched_r"]:.3f}) | {record["images_per_second"]:.0f} img/s',
          flush=True)
