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
    synth.add_argument('--shen2019', metavar='DIR',
                       help=f'also write an in-silico Shen 2019 folder here ({ShenDesign.subjects} subjects; the '
                            f'test session and a training session of {ShenDesign.train_images} images × '
                            f'{ShenDesign.train_repetitions}, in the bdpy layout), with the same --seed and '
                            f'--image-size')


def run(args):
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
