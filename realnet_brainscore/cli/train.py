"""`brainscore train`: align CORnet-S (or another backbone) with subjects' EEG or fMRI."""
import argparse
from pathlib import Path

from ..backbones import parse_regions
from ..errors import RealnetError
from ..training import TrainConfig
from ..training.loss import CLASSIFICATION_LOSSES
from ..training.targets import FMRI_DIMENSIONS
from ..training.trainer import RECIPES, SELECT_ON, ZSCORES, run_name
from .options import command, positive, subject_range

RECIPES_TEXT = f"""\
recipes (--recipe; a flag given explicitly overrides the recipe's value):
  paper     (default) the authors' notebook: cross-entropy against the frozen teacher's argmax
            (--classification hard); generation loss MSE + (1 - mean matched r + mean unmatched r)
            with the correlation part logged but carrying no gradient (--no-correlation-gradient),
            so the objective is CE + beta*MSE; EEG targets z-scored with one mean and one SD per
            subject (--zscore subject)
  improved  teacher probabilities (--classification soft), differentiable correlation part
            (--correlation-gradient), per-feature z-score over the training part (--zscore feature)
both: Adam lr {TrainConfig.lr:g}, batch {TrainConfig.batch_size}, {TrainConfig.epochs} epochs, beta {TrainConfig.beta:g}, \
seed {TrainConfig.seed}, ImageNet CORnet-S start; the
checkpoint records the resolved settings and the recipe, and --resume must match them.
model selection: --select-on validation (default) keeps the epoch with the lowest loss on held-out
training images; --select-on test selects on the test images as the authors did.

other backbones (--backbone): any torchvision classifier (resnet50, vit_b_16, ...) or timm:NAME
(pip install 'realnet-brainscore[timm]'); the head reads --layers (default: the ResNet family's
layer1-4), Brain-Score reads each region from --regions (default: V1 the first layer, IT the last)
and the behavioural readout from the module before the classifier. --pool N keeps a large
network's head small.
fMRI (--shen2019, ReAlnet-fMRI): the subject's visual-cortex voxels of Shen 2019's training
session, averaged over repetitions and reduced to %d principal components fitted on the training
part (the authors' targets had 1,024 dimensions; their reduction is not published).
group (--subjects LIST --group): one model generating every listed subject's responses (one head
output per subject and feature, each subject z-scored on its own); written to RUNDIR/group/.
together (--subjects LIST --together): the subjects' models trained side by side in one process:
every batch is prepared once and the frozen teacher runs once for all; each RUNDIR/sub-XX/ is what
training that subject alone writes (same losses and weights; on the CPU, where by default several
students step at once, to float rounding), and --resume continues every one.""" % FMRI_DIMENSIONS


def add_parsers(commands):
    parser = command(commands, 'train', run, help="align CORnet-S or another network with subjects' EEG or fMRI",
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     description="Fine-tune CORnet-S (or --backbone) to generate a THINGS-EEG2 subject's EEG (or a "
                                 "Shen 2019 subject's fMRI) while\nclassifying like its frozen copy; writes "
                                 'RUNDIR/sub-XX/{last,best}.pt, log.jsonl and summary.json.\n\n' + RECIPES_TEXT)
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument('--subject', type=int, choices=range(1, 11), metavar='N', help='one subject, 1-10 (fMRI: 1-3)')
    who.add_argument('--subjects', type=subject_range, metavar='LIST', help='several, e.g. 1-10 or 1,3')
    parser.add_argument('--group', action='store_true', help='with --subjects: one model for all of them')
    parser.add_argument('--together', action='store_true',
                        help='with --subjects: train their models side by side in one pass (same batches, one '
                             'teacher pass per batch); each run folder is as if trained alone')
    data = parser.add_mutually_exclusive_group(required=True)
    data.add_argument('--things-eeg2', metavar='DIR', help='THINGS-EEG2 folder (OSF layout): EEG alignment')
    data.add_argument('--shen2019', metavar='DIR', help='Shen 2019 folder with the training-session h5 files and '
                                                        'images/: fMRI alignment')
    parser.add_argument('--drop-nan-voxels', action='store_true',
                        help='fMRI: leave out voxels with NaN values instead of refusing the data')
    parser.add_argument('--out', required=True, metavar='RUNDIR')
    _add_backbone(parser)
    _add_optimisation(parser)
    _add_recipe(parser)
    _add_selection(parser)
    parser.add_argument('--image-size', type=positive, default=TrainConfig.image_size, metavar='PX')
    parser.add_argument('--device', help='cuda, cuda:1, cpu (default: cuda if available)')
    parser.add_argument('--compile', choices=['none', 'default', 'reduce-overhead'], default=TrainConfig.compile,
                        help='torch.compile the model; reduce-overhead uses CUDA graphs (small batches)')
    parser.add_argument('--workers', type=positive, metavar='N', help='processes decoding images for the cache')
    parser.add_argument('--parallel-students', type=positive, metavar='N',
                        help='with --together on the CPU: students stepped at once, each worker process taking its '
                             'share of them on one CPU thread (default: one per CPU thread; 1: one after another '
                             'in this process)')
    parser.add_argument('--resume', action='store_true', help='continue the run in RUNDIR from its last epoch')


def _add_backbone(parser):
    parser.add_argument('--backbone', default=TrainConfig.backbone, metavar='NAME',
                        help='cornet-s (default), a torchvision classifier or timm:NAME')
    parser.add_argument('--layers', nargs='+', metavar='LAYER', help='module names the head reads')
    parser.add_argument('--regions', nargs='+', metavar='REGION=LAYER',
                        help='the layer Brain-Score reads for each of V1 V2 V4 IT')
    parser.add_argument('--pool', type=positive, metavar='N', help="average each layer's output to N×N first")
    parser.add_argument('--backbone-weights', '--cornet-weights', metavar='FILE',
                        help="start from this file (default: the library's ImageNet weights)")


def _add_optimisation(parser):
    parser.add_argument('--epochs', type=positive, default=TrainConfig.epochs, metavar='N',
                        help='epochs (%(default)s)')
    parser.add_argument('--batch-size', type=positive, default=TrainConfig.batch_size, metavar='N',
                        help='images per step (%(default)s)')
    parser.add_argument('--lr', type=float, default=TrainConfig.lr, help='Adam learning rate (%(default)g)')
    parser.add_argument('--beta', type=float, default=TrainConfig.beta,
                        help='weight of the EEG generation loss (%(default)g)')
    parser.add_argument('--seed', type=int, default=TrainConfig.seed,
                        help='seed of the head, split and data order (%(default)s)')
    parser.add_argument('--window', type=float, nargs=2, metavar=('START', 'END'),
                        help='EEG window in seconds (default {:g} {:g}: 20 samples at 100 Hz)'.format(*TrainConfig.window))
    parser.add_argument('--channels', nargs='+', metavar='CH', help='EEG channels (default: all 17)')


def _add_recipe(parser):
    parser.add_argument('--recipe', choices=list(RECIPES), default=TrainConfig.recipe,
                        help="paper: the authors' notebook (default); improved: this package's variant (see above)")
    parser.add_argument('--classification', choices=list(CLASSIFICATION_LOSSES),
                        help='agreement with the frozen teacher: its probabilities (soft), argmax (hard) or logits '
                             '(mse); overrides the recipe (paper: hard, improved: soft)')
    parser.add_argument('--correlation-gradient', action=argparse.BooleanOptionalAction,
                        help='whether the correlation part of the generation loss trains the network (it is logged '
                             'either way); overrides the recipe (paper: no, improved: yes)')
    parser.add_argument('--zscore', choices=list(ZSCORES),
                        help='EEG targets z-scored with one mean and SD per subject (over all its training images) '
                             'or per feature (over the training part); overrides the recipe (paper: subject, '
                             'improved: feature)')


def _add_selection(parser):
    parser.add_argument('--select-on', choices=list(SELECT_ON), default=TrainConfig.select_on,
                        help='the epoch kept as best.pt has the lowest loss on: a held-out part of the training '
                             'images (validation, default) or, as the authors did, the test images, the evaluation '
                             'set (test: trains on every training image and warns)')
    parser.add_argument('--validation-fraction', type=float, default=TrainConfig.validation_fraction, metavar='F',
                        help='training images held out for model selection (%(default)s; unused with '
                             '--select-on test)')


def run(args):
    from .. import training  # looked up when run, so that a test can stand in for it
    if (args.group or args.together) and not args.subjects:
        raise RealnetError(f'{"--group" if args.group else "--together"} needs --subjects LIST')
    if args.group and args.together:
        raise RealnetError('--group trains one model; --together several side by side: choose one')
    if args.parallel_students and not args.together:
        raise RealnetError('--parallel-students steps the students of --together; add --together')
    if args.shen2019 and args.window:
        raise RealnetError('--window is for EEG, not Shen 2019 fMRI')
    configs = [_config(args, None, tuple(args.subjects))] if args.group else [
        _config(args, subject) for subject in args.subjects or [args.subject]]
    progress = None if args.quiet else _print_epoch
    if args.together:
        summaries = training.train_together(configs, on_epoch_end=progress)
    else:
        summaries = [training.train(config, on_epoch_end=progress) for config in configs]
    for config, summary in zip(configs, summaries):
        if summary:
            print(f'{run_name(config)}: best epoch {summary["best_epoch"]} ({args.select_on} loss '
                  f'{summary["best_val_loss"]:.4f}) -> {summary["best_checkpoint"]}')


def _config(args, subject: int | None, group: tuple[int, ...] = ()) -> TrainConfig:
    return TrainConfig(
        out=Path(args.out), things_eeg2=_path(args.things_eeg2), shen2019=_path(args.shen2019), subject=subject,
        group=group, backbone=args.backbone, layers=tuple(args.layers) if args.layers else None,
        regions=parse_regions(args.regions), pool=args.pool, backbone_weights=_path(args.backbone_weights),
        drop_nan_voxels=args.drop_nan_voxels,
        epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, beta=args.beta, seed=args.seed,
        window=tuple(args.window or TrainConfig.window),
        channels=tuple(args.channels) if args.channels else None, recipe=args.recipe,
        classification=args.classification, correlation_gradient=args.correlation_gradient, zscore=args.zscore,
        select_on=args.select_on, validation_fraction=args.validation_fraction, image_size=args.image_size,
        device=args.device, compile=args.compile, workers=args.workers,
        parallel_students=args.parallel_students, resume=args.resume, progress=not args.quiet)


def _path(text):
    return Path(text) if text else None


def _print_epoch(record):
    print(f'{record["run"] + " " if "run" in record else ""}epoch {record["epoch"]}: train loss {record["train_loss"]:.4f} (cls {record["train_cls"]:.4f}, '
          f'gen {record["train_gen"]:.4f}, r {record["train_matched_r"]:.3f}) | validation loss '
          f'{record["val_loss"]:.4f} (r {record["val_matched_r"]:.3f}) | {record["images_per_second"]:.0f} img/s',
          flush=True)
