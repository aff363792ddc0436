"""`brainscore synth`: in-silico THINGS-EEG2 releases (and Shen 2019 folders), written on their own."""
from pathlib import Path

from ..synthetic import Design, ShenDesign
from .options import command, positive


def add_parsers(commands):
    synth = command(commands, 'synth', run, help='write in-silico subjects in the THINGS-EEG2 format',
                    description='Write a miniature THINGS-EEG2 release (images, image_metadata.npy, preprocessed '
                                'EEG per subject) generated from a hidden model brain; with --shen2019, also an '
                                'in-silico Shen 2019 fMRI folder from the same brain.')
    synth.add_argument('--out', required=True, metavar='DIR')
    synth.add_argument('--subjects', type=positive, default=Design.subjects, metavar='N')
    synth.add_argument('--concepts', type=positive, default=Design.concepts, metavar='N',
                       help='training concepts (default %(default)s)')
    synth.add_argument('--images-per-concept', type=positive, default=Design.images_per_concept, metavar='N')
    synth.add_argument('--test-images', type=positive, default=Design.test_images, metavar='N')
    synth.add_argument('--image-size', type=positive, default=Design.image_size, metavar='PX')
    synth.add_argument('--noise', type=float, default=Design.noise,
                       help='single-trial noise sd relative to the signal (%(default)g)')
    synth.add_argument('--seed', type=int, default=Design.seed)
    synth.add_argument('--format', choices=FORMATS, default='things-eeg2',
                       help='things-eeg2 (default: the OSF layout) or, with a data-set card (docs/recordings.md), the '
                            "same in-silico EEG as MNE Epochs files (mne-epochs) or a BIDS data set (bids), or "
                            'in-silico fMRI betas (fmri-betas; its own small design)')
    synth.add_argument('--shen2019', metavar='DIR',
                       help=f'also write an in-silico Shen 2019 folder here ({ShenDesign.subjects} subjects; the '
                            f'test session and a training session of {ShenDesign.train_images} images × '
                            f'{ShenDesign.train_repetitions}, in the bdpy layout), with the same --seed and '
                            f'--image-size')


FORMATS = ('things-eeg2', 'mne-epochs', 'bids', 'fmri-betas')


def run(args):
    if args.format != 'things-eeg2':
        return _write_card_format(args)
    from ..data.shen2019 import TEST_IMAGES, TEST_REPETITIONS
    from ..errors import RealnetError
    from ..files import new_folder, outside_inputs
    from ..synthetic import write_shen2019, write_things_eeg2
    if args.shen2019:  # refused before anything is written: the two folders apart, neither inside the other
        if Path(args.shen2019).resolve() == Path(args.out).resolve():
            raise RealnetError(f'--shen2019 {args.shen2019}: the same folder as --out; choose another')
        outside_inputs(args.out, [args.shen2019], '--out, outside --shen2019')
        new_folder(args.shen2019, '--shen2019, outside --out', inputs=[args.out])
    design = Design(subjects=args.subjects, concepts=args.concepts, images_per_concept=args.images_per_concept,
                    test_images=args.test_images, image_size=args.image_size, noise=args.noise, seed=args.seed)
    out = write_things_eeg2(args.out, design)
    print(f'wrote an in-silico THINGS-EEG2 release ({design.subjects} subjects, '
          f'{design.concepts * design.images_per_concept} training and {design.test_images} test images) to {out}')
    if args.shen2019:
        shen = ShenDesign(image_size=args.image_size, seed=args.seed)
        folder = write_shen2019(args.shen2019, shen)
        print(f'wrote an in-silico Shen 2019 folder ({shen.subjects} subjects; test session {TEST_IMAGES} images × '
              f'{TEST_REPETITIONS}, training session {shen.train_images} images × {shen.train_repetitions}) '
              f'to {folder}')


def _write_card_format(args):
    """An in-silico data set in a card's format: the THINGS-EEG2 release of the flags, written in a
    temporary folder and converted (mne-epochs, bids), or fMRI betas of their own design."""
    import tempfile
    from ..errors import RealnetError
    from ..files import new_folder
    from ..synthetic import write_things_eeg2
    from ..synthetic.bids import write_bids
    from ..synthetic.fmri_betas import BetasDesign, write_fmri_betas
    from ..synthetic.mne_epochs import write_mne_epochs
    if args.shen2019:
        raise RealnetError('--shen2019 goes with --format things-eeg2')
    out = new_folder(args.out)  # refused before anything is written
    if args.format == 'fmri-betas':
        card = write_fmri_betas(out, BetasDesign(image_size=args.image_size, seed=args.seed))
    else:
        design = Design(subjects=args.subjects, concepts=args.concepts, images_per_concept=args.images_per_concept,
                        test_images=args.test_images, image_size=args.image_size, noise=args.noise, seed=args.seed)
        writer = write_mne_epochs if args.format == 'mne-epochs' else write_bids
        with tempfile.TemporaryDirectory(dir=out.parent) as scratch:
            card = writer(write_things_eeg2(Path(scratch) / 'release', design), out)
    print(f'wrote an in-silico {args.format} data set to {out}; its card is {card} '
          f'(brainscore data check {card})')
