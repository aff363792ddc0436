"""THINGS-EEG2 temporal RSA (ReAlnet's Figure 1B): how a model region's representational geometry
of the 200 test images matches each subject's EEG at each time point.

Per subject s and time t: Spearman ρ between the model RDM (1 − Pearson r over the region's
features, as the paper) and the EEG RDM of s at t. EEG RDMs (``method``): 'decoding' (default, the
paper's: pairwise linear-SVM decoding accuracy, NeuroRA's protocol, see realnet_brainscore.decoding;
computed once per subject and kept on disk), 'correlation' (1 − Pearson r between repetition-
averaged channel patterns; seconds) or 'crossvalidated' (cross-validated Euclidean distance). The
EEG reaches the RDMs in the form ``eeg_form`` (things_eeg2.EEG_FORMS): 'standardised' (default: each
channel × time point z-scored, things_eeg2.standardise, so the OSF files and Brain-Score's packaged
assembly, which is standardised, give the same RDMs) or 'raw' (the OSF arrays as released, as the
authors decoded them; refused with the hosted copy, which cannot be un-standardised). The score
is the mean ρ over subjects and the time points of ``window``, divided by the mean
leave-one-subject-out lower noise bound over the same window (the paper reports ρ without this
normalisation). The Score carries every subject's
time course, the ceiling's time course (lower and upper bound), the window and the EEG form.

``matched_subject=k`` compares the model with subject k only, as the paper compares ReAlnet k
(its RSA.ipynb, cells 4:143-149); the default compares it with every subject and averages
(Brain-Score's convention). The ceiling stays that of all the subjects the data hold: a
leave-one-subject-out bound is not defined for one subject, and an all-subject denominator keeps a
matched score on the scale of an all-subject one (``raw`` is the paper's ρ). The Score's
``matched_subject`` attribute names the subject, and ``settings()`` includes it.

Images: ``screen='brainscore'`` (default) places each 7° image on the model's field of view as
Brain-Score's benchmarks do (an 8° model sees it shrunk onto grey); ``screen='whole'`` feeds the
whole image resized to the model's input, as the authors did. The Score's ``screen`` and
``rdm_method`` attributes say which were used.

Interval (beyond the paper): ``bootstrap`` samples (default 1000; 0: none) of a bootstrap over
subjects and images together (realnet_brainscore.inference, rsatoolbox's ``eval_dual_bootstrap``
semantics) give the Score's ``raw_interval``, the 95 % percentile interval of the raw score (the
window mean ρ), and ``interval``, that of the score (raw ÷ the full-data ceiling, held fixed).

Data: ``things_eeg2`` (an OSF folder), else ``$REALNET_THINGS_EEG2``, else Brain-Score's hosted
``Gifford2022_test``.
"""
import functools
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from brainscore_core.benchmarks import BenchmarkBase
from brainscore_core.metrics import Score
from brainscore_vision.model_interface import BrainModel

from realnet_brainscore.data import data_folder, things_eeg2
from realnet_brainscore.data.dataset import numbered_subject
from realnet_brainscore.data.things_eeg2 import EEG_FORM, VISUAL_DEGREES, check_eeg_form, subject_name
from realnet_brainscore.decoding_cache import cached_decoding_rdms
from realnet_brainscore.citation import REALNET_BIBTEX
from realnet_brainscore.errors import RealnetError
from realnet_brainscore.inference import SAMPLES, check_samples, score_interval
from realnet_brainscore.recording import check_images, check_screen, region_rdm, stimulus_set
from realnet_brainscore.records import Kind, time_mask
from realnet_brainscore.rsa import check_rdm_method, eeg_rdms, noise_ceiling, spearman

WINDOW = (0.05, 0.35)  # seconds: where the EEG carries image information
BIBTEX = """@article{gifford2022large,
  title={A large and rich {EEG} dataset for modeling human visual object recognition},
  author={Gifford, Alessandro T. and Dwivedi, Kshitij and Roig, Gemma and Cichy, Radoslaw M.},
  journal={NeuroImage}, volume={264}, pages={119754}, year={2022}}
""" + REALNET_BIBTEX


class TemporalRSA(BenchmarkBase):
    kind = Kind.EEG  # what its score records say it measures (its parent: the model region)

    def __init__(self, region: str, things_eeg2=None, subjects=None, window=WINDOW, method='decoding',
                 screen='brainscore', eeg_form=EEG_FORM, matched_subject: int | None = None, bootstrap=SAMPLES,
                 data=None, name: str = things_eeg2.NAME):
        # version 2: decoding EEG RDMs of standardised EEG (version 1: correlation RDMs of the data as read)
        super().__init__(identifier=f'{name}.{region}-temporal_rsa', ceiling=None, version=2,
                         parent=region, bibtex=BIBTEX if data is None else REALNET_BIBTEX)
        self.region, self.things_eeg2, self.subjects = region, things_eeg2, subjects
        self.data = data  # a data-set card: that data set instead of THINGS-EEG2 (``name`` is its name)
        self.window, self.method = tuple(window), method
        self.screen, self.bootstrap = check_screen(screen), check_samples(bootstrap)
        self.eeg_form = check_eeg_form(eeg_form)
        self.matched_subject = matched_subject  # a personal model's own subject (None: every subject)

    def reference(self) -> 'EEGReference':
        check_rdm_method(self.method)
        if self.data is not None:
            return card_reference(str(Path(self.data).resolve()), self.method, check_eeg_form(self.eeg_form))
        folder = data_folder('things_eeg2', self.things_eeg2)
        return eeg_reference(folder, tuple(self.subjects) if self.subjects else None, self.method,
                             check_eeg_form(self.eeg_form, hosted=folder is None))

    @property
    def ceiling(self) -> Score:
        reference = self.reference()
        return Score(reference.ceiling[0][reference.in_window(self.window)].mean())

    def __call__(self, candidate: BrainModel) -> Score:
        reference = self.reference()
        rows = self.compared(reference)  # checked before the model's activations are computed
        rdm = region_rdm(candidate, self.region, reference.stimulus_set(), reference.visual_degrees, self.screen)
        rho = spearman(rdm, reference.rdms[rows])
        score = temporal_score(rho, reference, self.window, rows)
        score.attrs.update(screen=self.screen, rdm_method=self.method, eeg_form=self.eeg_form,
                           modality=reference.modality)
        if self.matched_subject is not None:
            score.attrs['matched_subject'] = self._matched_name()
        if check_samples(self.bootstrap):  # set after loading too (load_benchmark's options)
            score.attrs.update(score_interval(rdm, reference.rdms[rows], float(score.attrs['ceiling']),
                                              reference.in_window(self.window), self.bootstrap))
        return score

    def compared(self, reference: 'EEGReference') -> list[int]:
        """The rows of ``reference`` the model is compared with: every subject, or the matched one."""
        if self.matched_subject is None:
            return list(range(len(reference.subjects)))
        name = self._matched_name()
        if name not in reference.subjects:
            raise RealnetError(f'{name} is not in the EEG data (it holds {", ".join(reference.subjects)}): a '
                               'personal model is scored on its own subject only')
        return [reference.subjects.index(name)]

    def _matched_name(self) -> str:
        """The matched subject's label: THINGS-EEG2's 1-10 (else one line), or a data set's sub-NN."""
        return subject_name(self.matched_subject) if self.data is None else numbered_subject(self.matched_subject)

    def settings(self) -> dict:
        """What the score depends on besides the model and the data (``brainscore compare`` reuses
        a kept score only while these stay the same)."""
        return {'version': self.version, 'screen': self.screen, 'rdm_method': self.method, 'eeg_form': self.eeg_form,
                'window': list(self.window), 'subjects': list(self.subjects) if self.subjects else None,
                'bootstrap': self.bootstrap,
                # only when set: kept all-subject scores from before this setting stay reusable
                **({'matched_subject': self._matched_name()} if self.matched_subject else {}),
                **({'data': str(Path(self.data).resolve())} if self.data is not None else {})}


def temporal_score(rho: np.ndarray, reference: 'EEGReference', window, rows=None) -> Score:
    """Score from subjects × times Spearman ρ (the subjects of ``reference``, or its ``rows``):
    window mean over those subjects / window mean lower bound of all the reference's subjects."""
    subjects = reference.subjects if rows is None else [reference.subjects[row] for row in rows]
    in_window = reference.in_window(window)
    raw, ceiling = rho.mean(axis=0)[in_window].mean(), reference.ceiling[0][in_window].mean()
    score = Score(raw / ceiling)
    score.attrs['raw'] = Score(raw)
    score.attrs['ceiling'] = Score(ceiling)
    score.attrs['time_course'] = xr.DataArray(
        rho, dims=('subject', 'time_bin'), coords={'subject': subjects, 'time_bin': reference.times})
    score.attrs['ceiling_time_course'] = xr.DataArray(
        reference.ceiling, dims=('bound', 'time_bin'), coords={'bound': ['lower', 'upper'], 'time_bin': reference.times})
    score.attrs['window'] = list(window)
    return score


@dataclass(frozen=True)
class EEGReference:
    """What every region's benchmark shares: the test images and each subject's RDM time course."""
    stimulus_ids: list
    image_paths: list
    subjects: list
    times: np.ndarray
    rdms: np.ndarray      # subjects × times × pairs
    ceiling: np.ndarray   # 2 (lower, upper) × times
    visual_degrees: float = VISUAL_DEGREES  # the images' size on the participants' screen
    name: str = 'Gifford2022_test'          # names the stimulus set
    modality: str = 'EEG'                   # or MEG (a card's)

    def in_window(self, window) -> np.ndarray:
        mask = time_mask(self.times, *window)
        if not mask.any():
            raise RealnetError(f'the window {window[0]}-{window[1]} s holds no EEG time points')
        return mask

    def stimulus_set(self):
        return stimulus_set(self.stimulus_ids, self.image_paths, f'{self.name}-temporal_rsa')


def subject_rdms(trials: np.ndarray, method: str, name: str) -> np.ndarray:
    """times × pairs RDMs of one subject's test trials (in the benchmark's EEG form); decoding RDMs (hours of SVMs
    without this package's solver, minutes with it) are kept on disk."""
    if method == 'decoding':
        try:
            return cached_decoding_rdms(trials, name)
        except ValueError as error:  # too few trials for the authors' pseudo-trials and folds
            raise RealnetError(f"{name}: decoding RDMs: {error}; `method` correlation needs no pseudo-trials") from error
    return eeg_rdms(trials, method)


@functools.lru_cache(maxsize=2)
def eeg_reference(folder: str | None, subjects: tuple | None, method: str, eeg_form: str = EEG_FORM) -> EEGReference:
    """EEG RDMs of every THINGS-EEG2 subject (the OSF release at ``folder``, else Brain-Score's hosted
    copy), from its test trials in ``eeg_form``, and their noise ceiling, computed once per data
    source and form."""
    dataset = things_eeg2.dataset(folder, test_only=True, subjects=subjects)
    # Brain-Score checks the hosted stimuli's hashes when it fetches them
    return dataset_reference(dataset, method, eeg_form, check_files=folder is not None)


@functools.lru_cache(maxsize=2)
def card_reference(card: str, method: str, eeg_form: str = EEG_FORM) -> EEGReference:
    """The same for the M/EEG data set a data-set card describes (realnet_brainscore/data/card.py)."""
    from realnet_brainscore.data.card import load_card, open_dataset
    dataset = open_dataset(load_card(card))
    if not dataset.timed:
        raise RealnetError(f'{card}: fMRI has no time course; its benchmarks are {dataset.name}.<ROI>-rsa')
    return dataset_reference(dataset, method, eeg_form)


def dataset_reference(dataset, method: str, eeg_form: str, check_files: bool = True) -> EEGReference:
    """An EEGReference from every subject's test Recording of an M/EEG DataSet (data/dataset.py):
    one image set and time axis for all, every subject read and checked before any RDM is computed."""
    if len(dataset.subjects) < 2:
        raise RealnetError(f'{dataset.source}: test recordings of at least two subjects are needed (found '
                           f'{len(dataset.subjects)})')
    recordings = [dataset.recording(subject, 'test') for subject in dataset.subjects]
    first = recordings[0]
    for recording in recordings[1:]:
        if recording.stimulus_ids != first.stimulus_ids or not np.allclose(recording.times, first.times):
            raise RealnetError(f'{recording.subject} has other test images or time points than {first.subject}')
    if len(first.stimulus_ids) < 3:
        raise RealnetError(f'the test set has {len(first.stimulus_ids)} images; an RDM needs at least 3')
    if check_files:
        check_images(first.image_paths)
    rdms = np.stack([subject_rdms(things_eeg2.in_form(r.values, eeg_form), method, r.subject).astype(np.float32)
                     for r in recordings])
    return EEGReference(list(first.stimulus_ids), list(first.image_paths), [r.subject for r in recordings],
                        np.asarray(first.times, dtype=float), rdms, noise_ceiling(rdms), dataset.visual_degrees,
                        f'{dataset.name}_test', dataset.modality)
