"""The data a run aligns with: a THINGS-EEG2 or Shen 2019 folder, and one subject or a group."""
from dataclasses import dataclass
from pathlib import Path

from ..data import shen2019
from ..data.things_eeg2 import subject_name
from ..errors import RealnetError

THINGS_EEG2_SUBJECTS = tuple(range(1, 11))


@dataclass(frozen=True)
class Source:
    things_eeg2: Path | None = None      # EEG alignment (ReAlnet) ...
    shen2019: Path | None = None         # ... or fMRI alignment (ReAlnet-fMRI): one of the two
    subject: int | None = None           # one subject ...
    group: tuple[int, ...] = ()          # ... or a group model: these subjects, one head output each

    @property
    def subjects(self) -> tuple[int, ...]:
        return tuple(self.group) or (self.subject,)

    @property
    def data_name(self) -> str:
        return 'Shen 2019' if self.shen2019 is not None else 'THINGS-EEG2'

    @property
    def modality(self) -> str:
        return 'fMRI' if self.shen2019 is not None else 'EEG'

    @property
    def run_name(self) -> str:
        """``sub-01``, or ``group`` for a group model: the run's folder."""
        return 'group' if self.group else subject_name(self.subject)

    def check(self):
        """Refuses a source that names no data set or both, or subjects the data set lacks."""
        if (self.things_eeg2 is None) == (self.shen2019 is None):
            raise RealnetError('train on one data set: `things_eeg2` (EEG) or `shen2019` (fMRI)')
        if (self.subject is None) == (not self.group):
            raise RealnetError('`subject` or `group`: give one of the two')
        known = shen2019.SUBJECTS if self.shen2019 is not None else THINGS_EEG2_SUBJECTS
        wording = '`group` must hold subjects' if self.group else '`subject` must be'
        for subject in self.subjects:
            if subject not in known:
                raise RealnetError(f'{wording} {known[0]} to {known[-1]} for {self.data_name}, got {subject}')
        if self.group and (len(set(self.group)) < 2 or len(set(self.group)) < len(self.group)):
            raise RealnetError(f'`group` must hold two subjects at least, each once, got {list(self.group)}')

    def check_fits(self, recipe):
        """Refuses EEG-only settings of a recipe (not yet resolved) with fMRI."""
        if self.shen2019 is None:
            return
        if recipe.select_on == 'test':
            raise RealnetError('`select_on` test is for EEG: Shen 2019 fMRI training selects on held-out training '
                               'images')
        for name in ('window', 'channels'):
            if getattr(recipe, name):
                raise RealnetError(f'`{name}` is for EEG, not Shen 2019 fMRI')


def check_together(sources: list[Source]):
    """Runs trained together share every batch: single subjects, each once, of one data folder."""
    if any(source.group for source in sources):
        raise RealnetError('runs trained together are single subjects side by side, not group models')
    if any((s.things_eeg2, s.shen2019) != (sources[0].things_eeg2, sources[0].shen2019) for s in sources):
        raise RealnetError('runs trained together share every setting and the data; these differ: the data folder')
    subjects = [source.subject for source in sources]
    if len(set(subjects)) < len(subjects):
        raise RealnetError('runs trained together take each subject once')
