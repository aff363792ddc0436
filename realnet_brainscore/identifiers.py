"""Every form a model's name takes, parsed and formatted in one place.

- published: ``cornet-s`` (the unaligned baseline) and ``realnet-s01`` … ``realnet-s10``;
- backbones: a torchvision architecture name (``resnet50``) or ``timm:NAME``;
- aligned models of this package's trainer: ``<backbone>-<eeg|meg|fmri>-<sNN|group>``
  (``resnet50-eeg-s01``, ``cornet-s-fmri-s01``), except that CORnet-S aligned with EEG keeps the
  paper's name ``realnet-sNN`` / ``realnet-group``;
- a model built from a user's file adds ``+<sha256[:8]>`` (``realnet-s01+3fa2c1d0``): Brain-Score
  caches activations by identifier, so other weights need another identifier;
- `brainscore compare` takes ``MODEL`` or ``MODEL=FILE``;
- the leaderboard takes no hyphens: ``realnet-s01`` is ``realnet_s01`` there.

Every name that becomes a path or a registry key passes ``confined`` where it is made, whatever its
source (a flag, a checkpoint's metadata, a score file).
"""
import re
from dataclasses import dataclass
from pathlib import Path

CORNET = 'cornet-s'
TIMM = 'timm:'  # timm's models as backbones: timm:NAME
PUBLISHED_PREFIX = 'realnet'  # CORnet-S aligned with EEG, as the paper names its models
GROUP = 'group'
MODALITIES = ('EEG', 'MEG', 'fMRI')  # what a model can be aligned with
SUBJECTS = range(1, 100)  # a name spells a subject with two digits: s01 … s99
_ALIGNED = re.compile(r'^(?P<backbone>.+)-(?P<modality>eeg|meg|fmri)-(?P<who>s\d\d|group)$')
_PUBLISHED = re.compile(rf'^{PUBLISHED_PREFIX}-(?P<who>s\d\d|group)$')
# A name that may become a file or folder name: letters, digits and . _ + : - only, not starting
# with a dot or hyphen (no hidden files, no options), no '..', at most 128 characters.
_CONFINED = re.compile(r'^(?!.*\.\.)[A-Za-z0-9_][A-Za-z0-9._+:-]{0,127}$')


@dataclass(frozen=True)
class ModelName:
    """A model's name, parsed: its backbone (as the name spells it), what it was aligned with and to
    whom (none for an unaligned backbone), and the hash of a user's weights file, if any."""
    backbone: str
    modality: str | None = None   # 'EEG', 'MEG' or 'fMRI' for an aligned model
    subject: int | None = None    # the subject of a personal model
    group: bool = False           # a group model (one model for several subjects)
    digest: str | None = None     # sha256[:8] of a user's weights file

    def __post_init__(self):
        # An aligned name is made here from parts a checkpoint's metadata may give (backbone,
        # modality, subject): each is checked where the name is made, whatever its source.
        if self.modality is None:
            return
        if self.modality not in MODALITIES:
            from .errors import RealnetError, printable
            raise RealnetError(f'modality {printable(repr(self.modality))[:60]} is not allowed: '
                               f'{" or ".join(MODALITIES)}')
        confined(self.backbone, 'backbone name')
        if not self.group:
            check_subject(self.subject)
        confined(self.base)

    @property
    def base(self) -> str:
        """The name without the weights' hash: what the model is registered or trained as."""
        if self.modality is None:
            return self.backbone
        who = GROUP if self.group else f's{self.subject:02d}'
        if self.backbone == CORNET and self.modality == 'EEG':
            return f'{PUBLISHED_PREFIX}-{who}'
        return f'{backbone_slug(self.backbone)}-{self.modality.lower()}-{who}'

    def __str__(self) -> str:
        return self.base if self.digest is None else f'{self.base}+{self.digest}'

    @property
    def personal(self) -> bool:
        """Aligned with one subject (``realnet-s01``, ``resnet50-eeg-s01``)."""
        return self.subject is not None


def confined(name, what: str = 'model name') -> str:
    """``name`` once it is shown to be safe as a path component and a registry key (see
    ``_CONFINED``); else one line saying what it may hold, with the name shown escaped."""
    from .errors import RealnetError, printable
    if not isinstance(name, str) or not _CONFINED.match(name):
        raise RealnetError(f'{what} {printable(repr(name))[:140]} is not allowed: use at most 128 letters, digits '
                           "and . _ + : - (not starting with . or -, no '..')")
    return name


def check_subject(subject, what: str = 'subject') -> int:
    """``subject`` once it is shown to be a whole number a name can spell (``SUBJECTS``: s01 … s99)."""
    if isinstance(subject, bool) or not isinstance(subject, int) or subject not in SUBJECTS:
        from .errors import RealnetError, printable
        raise RealnetError(f'{what} {printable(repr(subject))[:60]} is not allowed: a whole number from '
                           f'{SUBJECTS.start} to {SUBJECTS.stop - 1}')
    return subject


def backbone_slug(backbone: str) -> str:
    """A backbone's name as a model name spells it: lower case, other characters as hyphens
    (``timm:vit_small`` -> ``timm-vit_small``)."""
    return re.sub(r'[^a-z0-9_]+', '-', backbone.lower())


def parse(text: str) -> ModelName:
    """``text`` in any of the forms above; a name of no aligned form is a backbone's (or another
    registered model's) name, unaligned."""
    base, plus, digest = str(text).partition('+')
    published, aligned = _PUBLISHED.match(base), _ALIGNED.match(base)
    if published:
        backbone, modality, who = CORNET, 'EEG', published['who']
    elif aligned:
        backbone, modality, who = aligned['backbone'], {'eeg': 'EEG', 'meg': 'MEG', 'fmri': 'fMRI'}[aligned['modality']], aligned['who']
    else:
        return ModelName(base, digest=digest if plus else None)
    group = who == GROUP
    return ModelName(backbone, modality, None if group else int(who[1:]), group, digest if plus else None)


def aligned(backbone: str, modality: str, subject: int | None = None, group: bool = False) -> ModelName:
    """The name of a model aligned with ``modality`` data (``EEG``, ``fMRI``) of ``subject`` (or a group);
    a modality, subject or backbone a name cannot hold is refused in one line (see ``ModelName``)."""
    return ModelName(backbone, modality, None if group else subject, group)


def personal_name(subject: int) -> str:
    """The published ReAlnet of a THINGS-EEG2 subject: ``realnet-s01``."""
    return str(aligned(CORNET, 'EEG', subject))


def with_digest(identifier: str, digest: str | None) -> str:
    """``identifier`` with the hash of the weights it is built from (None: the published ones)."""
    return f'{identifier}+{digest}' if digest else identifier


def eeg_subject(name: str) -> int | None:
    """The subject a personal EEG (or MEG) model (``realnet-s01``, ``resnet50-eeg-s01+3fa2c1d0``) was
    aligned with; None for any other model (an fMRI model's subject is of another data set)."""
    parsed = parse(name)
    return parsed.subject if parsed.modality in ('EEG', 'MEG') else None


def leaderboard_id(identifier: str) -> str:
    """Leaderboard identifiers cannot hold hyphens: realnet-s01 -> realnet_s01."""
    return identifier.replace('-', '_')


def is_timm(backbone: str) -> bool:
    return backbone.startswith(TIMM)


def timm_model(backbone: str) -> str:
    """timm's own name of ``timm:NAME``."""
    return backbone.removeprefix(TIMM)


def split_weights(text: str) -> tuple[str, Path | None]:
    """`brainscore compare`'s ``MODEL`` or ``MODEL=FILE``: the name and the file (None: none given)."""
    name, _, weights = text.partition('=')
    return name, Path(weights) if weights else None
