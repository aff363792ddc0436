"""`brainscore train`: align CORnet-S with one or several subjects' EEG."""
import argparse
from pathlib import Path

from ..data.things_eeg2 import subject_name
from ..training import TrainConfig
from ..training.loss import CLASSIFICATION_LOSSES
from ..training.trainer import RECIPES, SELECT_ON, ZSCORES
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
training images; --select-on test selects on the test images as the authors did."""


def add_parsers(commands):
    parser = command(commands, 'train', run, help="align CORnet-S with a subject's EEG",
                     formatter_class=argparse.RawDescriptionHelpFormatter,
                     description="Fine-tune CORnet-S to generate a THINGS-EEG2 subject's EEG while classifying like "
                                 'its frozen copy;\nwrites RUNDIR/sub-XX/{last,best}.pt, log.jsonl and '
                                 'summary.json.\n\n' + RECIPES_TEXT)
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument('--subject', type=int, choices=range(1, 11), metavar='N', help='one subject, 1-10')
    who.add_argument('--subjects', type=subject_range, metavar='LIST', help='several, e.g. 1-10 or 1,3')
    parser.add_argument('--things-eeg2', required=True, metavar='DIR', help='THINGS-EEG2 folder (OSF layout)')
    parser.add_argument('--out', required=True, metavar='RUNDIR')
    parser.add_argument('--cornet-weights', metavar='FILE', help='start from this CORnet-S (default: ImageNet release)')
    _add_optimisation(parser)
    _add_recipe(parser)
    _add_selection(parser)
    parser.add_argument('--image-size', type=positive, default=TrainConfig.image_size, metavar='PX')
    parser.add_argument('--device', help='cuda, cuda:1, cpu (default: cuda if available)')
    parser.add_argument('--compile', choices=['none', 'default', 'reduce-overhead'], default=TrainConfig.compile,
                        help='torch.compile the model; reduce-overhead uses CUDA graphs (small batches)')
    parser.add_argument('--workers', type=positive, metavar='N', help='processes decoding images for the cache')
    parser.add_argument('--resume', action='store_true', help='continue the run in RUNDIR from its last epoch')


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
    parser.add_argument('--window', type=float, nargs=2, default=TrainConfig.window, metavar=('START', 'END'),
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
    from ..training import train  # looked up when run, so that a test can stand in for it
    for subject in args.subjects or [args.subject]:
        summary = train(_config(args, subject), on_epoch_end=None if args.quiet else _print_epoch)
        if summary:
            print(f'{subject_name(subject)}: best epoch {summary["best_epoch"]} ({args.select_on} loss '
                  f'{summary["best_val_loss"]:.4f}) -> {summary["best_checkpoint"]}')


def _config(args, subject: int) -> TrainConfig:
    return TrainConfig(
        things_eeg2=Path(args.things_eeg2), subject=subject, out=Path(args.out),
        cornet_weights=Path(args.cornet_weights) if args.cornet_weights else None, epochs=args.epochs,
        batch_size=args.batch_size, lr=args.lr, beta=args.beta, seed=args.seed, window=tuple(args.window),
        channels=tuple(args.channels) if args.channels else None, recipe=args.recipe,
        classification=args.classification, correlation_gradient=args.correlation_gradient, zscore=args.zscore,
        select_on=args.select_on, validation_fraction=args.validation_fraction, image_size=args.image_size,
        device=args.device, compile=args.compile, workers=args.workers, resume=args.resume, progress=not args.quiet)


def _print_epoch(record):
    print(f'epoch {record["epoch"]}: train loss {record["train_loss"]:.4f} (cls {record["train_cls"]:.4f}, '
          f'gen {record["train_gen"]:.4f}, r {record["train_matched_r"]:.3f}) | validation loss '
          f'{record["val_loss"]:.4f} (r {record["val_matched_r"]:.3f}) | {record["images_per_second"]:.0f} img/s',
          flush=True)
