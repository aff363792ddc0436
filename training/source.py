"""The data a run aligns with: a THINGS-EEG2 or Shen 2019 folder or a data-set card, and one subject
or a group. Whichever it names, the run reads it as a DataSet (data/dataset.py)."""
import functools
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from ..data import shen2019, things_eeg2
from ..data.card import load_card, open_dataset
from ..data.dataset import no_training_split, numbered_subject
from ..errors import RealnetError
from ..identifiers import check_subject



class BuiltIn(NamedTuple):
    """What is known of a published data set a source names by folder, before reading it."""
    title: str                   # as messages name it
    name: str                    # the DataSet's name, as its benchmarks are named
    modality: str
    subjects: tuple[int, ...]


BUILT_IN = {'things_eeg2': BuiltIn('THINGS-EEG2', things_eeg2.NAME, 'EEG', tuple(things_eeg2.SUBJECTS)),
            'shen2019': BuiltIn('Shen 2019', shen2019.NAME, 'fMRI', shen2019.SUBJECTS)}


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

    def dataset(self, drop_nan_voxels: bool = False):
        """The DataSet (data/dataset.py) of whichever data set the source names, read once per
        process: THINGS-EEG2 and Shen 2019 by their readers, a card by its format's."""
        return _dataset(*self._named(), drop_nan_voxels)

    def _named(self) -> tuple[str, str]:
        """(reader, resolved path) of the one data set named; refuses none or several."""
        named = [(kind, path) for kind, path in (('things_eeg2', self.things_eeg2), ('shen2019', self.shen2019),
                                                 ('card', self.data)) if path is not None]
        if len(named) != 1:
            raise RealnetError('train on one data set: `things_eeg2` (EEG), `shen2019` (fMRI) or `data` (a data-set '
                               'card)')
        return named[0][0], str(Path(named[0][1]).resolve())

    @property
    def inputs(self) -> list:
        """Every path the run reads data from (no output may be one or lie inside one)."""
        if self.data is None:
            return [self.things_eeg2, self.shen2019]
        card = load_card(self.data)
        return [card.path, card.data, card.images, card.table, card.event_images, *card.rois.values()]

    @property
    def data_name(self) -> str:
        """The data set as messages name it, known without reading its recordings."""
        reader, path = self._named()
        return BUILT_IN[reader].title if reader in BUILT_IN else load_card(path).name

    @property
    def set_name(self) -> str:
        """The data set's name, as its benchmarks are named (Gifford2022, a card's name)."""
        reader, path = self._named()
        return BUILT_IN[reader].name if reader in BUILT_IN else load_card(path).name

    @property
    def modality(self) -> str:
        reader, path = self._named()
        return BUILT_IN[reader].modality if reader in BUILT_IN else load_card(path).modality

    @property
    def run_name(self) -> str:
        """``sub-01``, or ``group`` for a group model: the run's folder."""
        return 'group' if self.group else numbered_subject(self.subject)

    def check(self):
        """Refuses a source that names no data set or several, or subjects it cannot hold; reads no
        recordings (``check_data`` does)."""
        reader, path = self._named()
        if reader == 'card' and load_card(path).test_images is None:  # refused before any weights or data are read
            raise RealnetError(no_training_split(path))
        if (self.subject is None) == (not self.group):
            raise RealnetError('`subject` or `group`: give one of the two')
        known = BUILT_IN[reader].subjects if reader in BUILT_IN else None
        for subject in self.subjects:
            if known is not None and subject not in known:
                wording = '`group` must hold subjects' if self.group else '`subject` must be'
                raise RealnetError(f'{wording} {known[0]} to {known[-1]} for {self.data_name}, got {subject}')
            check_subject(subject, '`group` subject' if self.group else '`subject`')
        if self.group and (len(set(self.group)) < 2 or len(set(self.group)) < len(self.group)):
            raise RealnetError(f'`group` must hold two subjects at least, each once, got {list(self.group)}')

    def check_data(self, drop_nan_voxels: bool = False):
        """Refuses subjects the data set lacks, and a data set without a training split."""
        dataset = self.dataset(drop_nan_voxels)
        missing = [numbered_subject(s) for s in self.subjects if numbered_subject(s) not in dataset.subjects]
        if missing:
            raise RealnetError(f'{dataset.source}: no subject {missing[0]} (it holds {", ".join(dataset.subjects[:10])})')
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
def _dataset(reader: str, path: str, drop_nan_voxels: bool):
    if reader == 'things_eeg2':
        return things_eeg2.dataset(path)
    if reader == 'shen2019':
        return shen2019.dataset(path, drop_nan_voxels)
    return open_dataset(load_card(path))
