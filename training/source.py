"""The data a run aligns with: a THINGS-EEG2 or Shen 2019 folder or a data-set card, and one subject
or a group."""
import functools
from dataclasses import dataclass
from pathlib import Path

from ..data import shen2019
from ..data.dataset import numbered_subject
from ..data.things_eeg2 import subject_name
from ..errors import RealnetError

THINGS_EEG2_SUBJECTS = tuple(range(1, 11))


@dataclass(frozen=True)
class Source:
    things_eeg2: Path | None = None      # EEG alignment (ReAlnet) ...
    shen2019: Path | None = None         # ... or fMRI alignment (ReAlnet-fMRI) ...
    data: Path | None = None             # ... or the data set a card describes (data/card.py): one of the three
    subject: int | None = None           # one subject ...
    group: tuple[int, ...] = ()          # ... or a group model: these subjects, one head output each

    @property
    def subjects(self) -> tuple[int, ...]:
        return tuple(self.group) or (self.subject,)

    @property
    def dataset(self):
        """The card's DataSet (None for THINGS-EEG2 and Shen 2019), read once per card."""
        return None if self.data is None else _dataset(str(Path(self.data).resolve()))

    @property
    def inputs(self) -> list:
        """Every path the run reads data from (no output may be one or lie inside one)."""
        if self.data is None:
            return [self.things_eeg2, self.shen2019]
        from ..data.card import load_card
        card = load_card(self.data)
        return [card.path, card.data, card.images, card.table, *card.rois.values()]

    @property
    def data_name(self) -> str:
        if self.data is not None:
            return self.dataset.name
        return 'Shen 2019' if self.shen2019 is not None else 'THINGS-EEG2'

    @property
    def modality(self) -> str:
        if self.data is not None:
            return self.dataset.modality
        return 'fMRI' if self.shen2019 is not None else 'EEG'

    @property
    def run_name(self) -> str:
        """``sub-01``, or ``group`` for a group model: the run's folder."""
        if self.group:
            return 'group'
        return numbered_subject(self.subject) if self.data is not None else subject_name(self.subject)

    def check(self):
        """Refuses a source that names no data set or both, or subjects the data set lacks."""
        if sum(x is not None for x in (self.things_eeg2, self.shen2019, self.data)) != 1:
            raise RealnetError('train on one data set: `things_eeg2` (EEG), `shen2019` (fMRI) or `data` (a data-set '
                               'card)')
        if (self.subject is None) == (not self.group):
            raise RealnetError('`subject` or `group`: give one of the two')
        if self.data is not None:
            self._check_card()
        else:
            known = shen2019.SUBJECTS if self.shen2019 is not None else THINGS_EEG2_SUBJECTS
            wording = '`group` must hold subjects' if self.group else '`subject` must be'
            for subject in self.subjects:
                if subject not in known:
                    raise RealnetError(f'{wording} {known[0]} to {known[-1]} for {self.data_name}, got {subject}')
        if self.group and (len(set(self.group)) < 2 or len(set(self.group)) < len(self.group)):
            raise RealnetError(f'`group` must hold two subjects at least, each once, got {list(self.group)}')

    def _check_card(self):
        """A card's subjects are labels; `subject` N names sub-NN. Its training split must exist."""
        dataset = self.dataset
        missing = [numbered_subject(s) for s in self.subjects if numbered_subject(s) not in dataset.subjects]
        if missing:
            raise RealnetError(f'{self.data}: no subject {missing[0]} (it holds {", ".join(dataset.subjects[:10])})')
        dataset.split_ids('training')  # a card naming no test images is refused here, in one line

    def check_fits(self, recipe):
        """Refuses M/EEG-only settings of a recipe (not yet resolved) with fMRI."""
        if self.modality != 'fMRI':
            return
        if recipe.select_on == 'test':
            raise RealnetError(f'`select_on` test is for EEG: {self.data_name} fMRI training selects on held-out '
                               'training images')
        for name in ('window', 'channels'):
            if getattr(recipe, name):
                raise RealnetError(f'`{name}` is for EEG, not {self.data_name} fMRI')


def check_together(sources: list[Source]):
    """Runs trained together share every batch: single subjects, each once, of one data folder."""
    if any(source.group for source in sources):
        raise RealnetError('runs trained together are single subjects side by side, not group models')
    if any((s.things_eeg2, s.shen2019, s.data) != (sources[0].things_eeg2, sources[0].shen2019, sources[0].data)
           for s in sources):
        raise RealnetError('runs trained together share every setting and the data; these differ: the data folder')
    subjects = [source.subject for source in sources]
    if len(set(subjects)) < len(subjects):
        raise RealnetError('runs trained together take each subject once')


@functools.lru_cache(maxsize=4)
def _dataset(card: str):
    from ..data.card import load_card, open_dataset
    return open_dataset(load_card(card))
