"""`brainscore data check|init`: a lab's own recordings, described by a data-set card (data/card.py)."""
import random
from pathlib import Path

from ..errors import RealnetError, printable
from .options import add_force, command

FORMAT_HELP = ('mne-epochs (a folder of sub-XX-epo.fif files, one per subject, whose metadata names each epoch\'s '
               'image), bids (a BIDS root of EEG or MEG recordings whose events.tsv names each stimulus file) or '
               'fmri-betas (a folder of sub-XX.npz / .h5 arrays, trials × voxels, with a stimulus table and ROI files)')


def add_parsers(commands):
    data = commands.add_parser('data', help="your own recordings: check or start a data-set card",
                               description='A data-set card (a short TOML file) says where recordings are and how '
                                           'to read them; train, score and compare take it with --data CARD.')
    actions = data.add_subparsers(title='data commands', required=True, metavar='ACTION')
    check = command(actions, 'check', run_check, help='read a data set once, whole, and describe it',
                    description='Read every subject of the data set CARD describes and print what was found '
                                '(subjects, images, repetitions, channels or voxels, times, the split, the noise '
                                'ceiling), or the first problem in one line.')
    check.add_argument('card', metavar='CARD')
    init = command(actions, 'init', run_init, help='write a card from what a folder holds',
                   description='Write a data-set card for the recordings at --path, from what is found there, '
                               'for you to read and edit; then run `brainscore data check CARD`.')
    init.add_argument('--format', required=True, choices=('mne-epochs', 'bids', 'fmri-betas'), help=FORMAT_HELP)
    init.add_argument('--path', required=True, metavar='PATH', help='the recordings (a folder or a BIDS root)')
    init.add_argument('--images', required=True, metavar='DIR', help='the folder the image names in the data are '
                                                                     'relative to')
    init.add_argument('--out', required=True, metavar='CARD', help='the card to write (.toml)')
    init.add_argument('--name', metavar='NAME', help='names the benchmarks, NAME.IT-temporal_rsa (default: from '
                                                     "the card's file name)")
    init.add_argument('--modality', choices=('EEG', 'MEG', 'fMRI'),
                      help='default: fMRI for fmri-betas, else EEG')
    init.add_argument('--image-column', metavar='COL', help='the metadata / events.tsv / table column naming each '
                                                            'image (default: stim_file for bids, image otherwise)')
    init.add_argument('--event-images', metavar='TSV', help='mne-epochs, instead of --image-column: a table with '
                                                             'columns event (an event name or code) and image')
    init.add_argument('--table', metavar='TSV', help='fmri-betas: the stimulus table, one row per trial')
    init.add_argument('--roi', nargs='+', default=[], metavar='NAME=FILE',
                      help='fmri-betas: each ROI\'s voxel indices or mask (.npy)')
    init.add_argument('--test-fraction', type=float, metavar='F',
                      help='hold out this fraction of the images for testing (3 at least), drawn with --seed and '
                           'written into the card (default: none; every image is then a test image and train refuses)')
    init.add_argument('--seed', type=int, default=0)
    add_force(init, 'an existing --out card')


def run_check(args):
    from ..data.card import load_card, open_dataset
    from ..data.check import summary
    card = load_card(args.card)
    print(describe(summary(open_dataset(card), card.format)))


def describe(found) -> str:
    """The lines `data check` prints of a check.Summary."""
    lines = [f'{found.name}: {found.modality}, {found.format}',
             f'subjects: {len(found.subjects)} ({_few(found.subjects)})',
             f'images: {found.images} ({found.test_images} test, {found.training_images} training)'
             + ('' if found.training_images else '; no test images named: every image is a test image'),
             'repetitions per image: ' + ', '.join(f'{split} {n}' for split, n in found.repetitions.items())
             + (f' ({found.dropped} trials left out to give every image the same number)' if found.dropped else '')]
    if found.times:
        first, last, n = found.times
        lines += [f'channels: {len(found.channels)} ({_few(found.channels)})',
                  f'times: {n} from {first:.3f} to {last:.3f} s']
        if found.ceiling:
            value, at = found.ceiling['peak']
            window = found.ceiling['window']
            lines.append(f'noise ceiling (test images, correlation RDMs, leave-one-subject-out lower bound): peak '
                         f'{value:.3f} at {at:.3f} s' + (f', mean {window:.3f} over 0.05-0.35 s' if window is not None
                                                          else ''))
        else:
            lines.append('noise ceiling: undefined here (it needs two subjects, and RDMs that vary across images)')
    else:
        lines.append(f'voxels: {len(found.channels)}')
        lines += [f'ROI {roi}: {voxels} voxels, compared with {region}; split-half reliability '
                  f'{found.ceiling[roi]:.3f}' for roi, (voxels, region) in found.rois.items()]
    return '\n'.join(printable(line) for line in lines)


def _few(names, most: int = 8) -> str:
    return ', '.join(names[:most]) + (', …' if len(names) > most else '')


def run_init(args):
    from ..data.card import card_text, open_dataset, parse_card
    from ..files import atomic_path, output_file
    out = output_file(args.out, inputs=[args.path, args.images, *filter(None, [args.table, args.event_images])],
                      force=args.force).resolve()
    if args.test_fraction is not None and not 0 < args.test_fraction < 1:
        raise RealnetError(f'--test-fraction must lie between 0 and 1, got {args.test_fraction}')
    entries = _entries(args, out)
    dataset = open_dataset(parse_card(out, card_text(entries)))  # read as `data check` will read it
    if args.test_fraction is not None:
        ids = sorted(dataset.stimulus_ids)
        # at least 3 (an RDM's least), at most all but one
        drawn = random.Random(args.seed).sample(ids, min(len(ids) - 1, max(3, round(args.test_fraction * len(ids)))))
        entries.update(test_images=sorted(drawn), test_fraction=args.test_fraction, seed=args.seed)
    text = card_text(entries)
    parse_card(out, text)
    with atomic_path(out) as partial:
        Path(partial).write_text(text)
    print(f'wrote {out}: {len(dataset.subjects)} subjects, {len(dataset.stimulus_ids)} images'
          + (f', {len(entries["test_images"])} of them for testing' if 'test_images' in entries else
             ', no test images named') + f'; read it, edit it, then run `brainscore data check {out}`')


def _entries(args, out: Path) -> dict:
    """The card's keys from the flags; paths relative to the card's folder where they lie below it."""
    def relative(path):
        path = Path(path).resolve()
        try:
            return str(path.relative_to(out.parent.resolve()))
        except ValueError:
            return str(path)
    modality = args.modality or ('fMRI' if args.format == 'fmri-betas' else 'EEG')
    entries = {'name': args.name or ''.join(c for c in out.stem if c.isalnum() or c in '_-') or 'MyData',
               'format': args.format, 'modality': modality, 'path': relative(args.path),
               'images': relative(args.images), 'visual_degrees': 8.0,
               'image_column': args.image_column or ('stim_file' if args.format == 'bids' else 'image')}
    if args.event_images:
        if args.format != 'mne-epochs' or args.image_column:
            raise RealnetError('--event-images is for --format mne-epochs, instead of --image-column')
        entries.pop('image_column')
        entries['event_images'] = relative(args.event_images)
    if args.format == 'bids':
        entries['epochs'] = {'tmin': -0.2, 'tmax': 0.8}
    if args.format == 'fmri-betas':
        if not args.table or not args.roi:
            raise RealnetError('--format fmri-betas needs --table TSV and --roi NAME=FILE …')
        rois = dict(_roi(text) for text in args.roi)
        entries['fmri'] = {'table': relative(args.table), 'rois': {k: relative(v) for k, v in rois.items()}}
    return entries


def _roi(text: str) -> tuple[str, str]:
    name, equals, file = text.partition('=')
    if not equals or not name or not file:
        raise RealnetError(f'--roi {printable(text)[:80]}: expected NAME=FILE')
    return name, file
