"""What several commands share: their parser's parent, option definitions, value types and the
checks made before any work."""
import argparse
import dataclasses
import json
import re

from .. import bounds
from ..files import atomic_path
from ..models import BATCH_SIZE
from ..training import Recipe, Runtime, Source

# A library message names each setting in backquotes (`weights_url`); the command line shows the flag
# that sets it: the setting's name with hyphens (--weights-url), except for RENAMED_FLAGS. The one
# place where the library's words become the command line's.
RENAMED_FLAGS = {'method': '--rdm', 'score_files': '--scores'}
SETTINGS = frozenset({'backbone', 'backbone_weights', 'bootstrap', 'data', 'drop_nan_voxels', 'eeg_form', 'force', 'layers', 'method',
                      'noise', 'out', 'pair', 'regions', 'score_files', 'screen', 'seed', 'shen2019', 'subjects',
                      'things_eeg2', 'weights', 'weights_url'}
                     | {field.name for kind in (Recipe, Source, Runtime) for field in dataclasses.fields(kind)})
_SETTING = re.compile(r'`([a-z0-9_]+)`')

# What `compare --models` and `score --models` take (score_store.candidates reads them).
MODEL_SPECS = ('each a model identifier (e.g. cornet-s realnet-s01 … realnet-s10; a torchvision architecture name is '
               'it with its ImageNet weights), MODEL=FILE (your checkpoint of that model, e.g. cornet-s=FILE; an '
               'aligned one under the name it gives itself, resnet50-eeg-s01=FILE), NAME=FILE (a checkpoint of '
               "`brainscore train` named NAME, any name that is no model's), a checkpoint FILE of `brainscore train` "
               '(under the name it gives itself) or a folder of runs (the --out of `brainscore train`: each '
               'RUN/best.pt); each name once')

COMMON = argparse.ArgumentParser(add_help=False)
COMMON.add_argument('-v', '--verbose', action='store_true', help='show tracebacks of errors, with their causes')
COMMON.add_argument('-q', '--quiet', action='store_true', help='no progress bars')


def command(commands, name: str, run, help: str, description: str, **settings) -> argparse.ArgumentParser:
    """A command's parser, with -v and -q, that runs ``run(args)``."""
    parser = commands.add_parser(name, parents=[COMMON], help=help, description=description, **settings)
    parser.set_defaults(run=run)
    return parser


def positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f'expected a positive whole number, got {text!r}')
    return int(text)


def count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f'expected a whole number, 0 or more, got {text!r}')
    return int(text)


def subject_range(text: str) -> list[int]:
    """``1-10`` or ``1,3,5`` as a list, counted before it is built: ``1-1000000000`` is refused,
    not a list of a billion numbers."""
    try:
        ranges = []
        for part in text.split(','):
            first, dash, last = part.partition('-')
            ranges.append((int(first), int(last if dash else first)))
    except ValueError as error:
        raise argparse.ArgumentTypeError(f'expected subjects like 1-10 or 1,3,5, got {text!r}') from error
    count = sum(max(0, last - first + 1) for first, last in ranges)
    if count > bounds.SUBJECTS:
        raise argparse.ArgumentTypeError(f'{count} subjects in {text[:40]!r}, above the bound of {bounds.SUBJECTS} '
                                         'subjects in one list')
    subjects = [subject for first, last in ranges for subject in range(first, last + 1)]
    if not subjects:
        raise argparse.ArgumentTypeError(f'expected subjects like 1-10 or 1,3,5, got {text!r}')
    return subjects  # which subjects a data set has, training checks


def add_data_folders(parser):
    parser.add_argument('--things-eeg2', metavar='DIR',
                        help='THINGS-EEG2 folder for our EEG benchmarks (default $REALNET_THINGS_EEG2, '
                             "else Brain-Score's Gifford2022_test)")
    parser.add_argument('--shen2019', metavar='DIR', help='Shen 2019 folder for our fMRI benchmarks '
                                                            '(default $REALNET_SHEN2019)')
    parser.add_argument('--data', metavar='CARD', help="a data-set card (brainscore data init): that data set's "
                                                       'benchmarks, NAME.<region>-temporal_rsa (EEG, MEG) or '
                                                       'NAME.<ROI>-rsa (fMRI), instead of THINGS-EEG2 and Shen 2019')


def card_inputs(card) -> list:
    """What a data-set card names (the card, its recordings, its images, its fMRI files): inputs all."""
    if card is None:
        return []
    return Source(data=card).inputs


def add_batch_size(parser):
    parser.add_argument('--batch-size', type=positive, default=BATCH_SIZE, metavar='N',
                        help='images per forward pass (default %(default)s; Brain-Score pads the last batch to N)')


def add_force(parser, what: str):
    parser.add_argument('--force', action='store_true', help=f'replace {what}')


def add_benchmark_options(parser):
    """--screen, --rdm, --eeg-form and --bootstrap; values are checked by benchmark_options (one line, exit 2);
    argparse only sees that --bootstrap is a whole number."""
    parser.add_argument(
        '--screen', metavar='{brainscore,whole}',
        help="how our EEG and fMRI benchmarks show the images: brainscore (default) places each at its visual angle "
             "on the model's 8° field of view as Brain-Score does (THINGS-EEG2, 7°: shrunk onto grey; Shen 2019, "
             "12°: its central two thirds); whole feeds the whole image resized to the model's input, as the "
             "authors did. Brain-Score's own benchmarks keep their own screen (in the suite; named alone with "
             "--benchmark, they refuse the option)")
    parser.add_argument(
        '--rdm', metavar='{decoding,correlation,crossvalidated}',
        help="the EEG RDMs of the temporal RSA benchmarks: decoding (default) = pairwise linear-SVM decoding "
             "accuracy, as the authors (minutes per subject the first time, then kept in $REALNET_HOME/cache); "
             "correlation = 1 - Pearson r of repetition-averaged channel patterns (seconds); crossvalidated = "
             "cross-validated squared Euclidean distance. The other benchmarks go without it (in the suite; named "
             "alone with --benchmark, they refuse it)")
    parser.add_argument(
        '--eeg-form', metavar='{standardised,raw}',
        help="the EEG the temporal RSA benchmarks' RDMs are computed from: standardised (default) = each channel × "
             "time point z-scored across images and trials, the form of Brain-Score's hosted Gifford2022, to which "
             "the OSF files are brought; raw = the OSF arrays as released, as the authors decoded them (needs "
             "--things-eeg2 or $REALNET_THINGS_EEG2: the hosted copy cannot be un-standardised)")
    parser.add_argument(
        '--bootstrap', type=count, metavar='N',
        help="samples of the bootstrap over subjects and images that gives our EEG and fMRI scores their 95%% "
             "interval (default 1000; 0: no interval). Beyond the paper, which generalises over subjects only")


def flag(setting: str) -> str:
    """The flag that sets ``setting``: ``weights_url`` -> ``--weights-url``."""
    return RENAMED_FLAGS.get(setting, '--' + setting.replace('_', '-'))


def with_flags(message: str) -> str:
    """A library message with each setting it names (`weights_url`) as the flag that sets it (--weights-url)."""
    return _SETTING.sub(lambda match: flag(match[1]) if match[1] in SETTINGS else match[0], message)


def benchmark_options(args, paper: dict | None = None) -> dict:
    """--screen, --rdm, --eeg-form and --bootstrap as benchmark options (None: each benchmark's default),
    checked before any work (--eeg-form raw with the hosted THINGS-EEG2 is refused); ``paper``: the options
    --paper implies, for those not given explicitly (an explicit flag wins, e.g. --rdm correlation
    when decoding RDMs would take too long; the report says what ran)."""
    from ..data import data_folder
    from ..data.things_eeg2 import check_eeg_form
    from ..recording import check_screen
    from ..inference import check_samples
    from ..rsa import check_rdm_method
    if args.screen is not None:
        check_screen(args.screen)
    if args.rdm is not None:
        check_rdm_method(args.rdm)
    if args.eeg_form is not None:
        check_eeg_form(args.eeg_form, hosted=args.data is None and data_folder('things_eeg2', args.things_eeg2) is None)
    if args.bootstrap is not None:
        check_samples(args.bootstrap)
    given = {'screen': args.screen, 'method': args.rdm, 'eeg_form': args.eeg_form}
    return {**{option: given[option] or (paper or {}).get(option) for option in given},
            'bootstrap': args.bootstrap,  # 0 is a value (no interval), not a missing one
            'data': args.data}  # a data-set card: its benchmarks (plugin.card_benchmarks)


def write_json(path, content):
    """``--json OUT``, written atomically; nothing when the option was not given."""
    if path:
        with atomic_path(path) as partial:
            partial.write_text(json.dumps(content, indent=2) + '\n')
        print(f'wrote {path}')
