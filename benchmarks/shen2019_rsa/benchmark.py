"""Shen 2019 fMRI ROI RSA (ReAlnet's Figure 1C): model-region RDM vs each subject's ROI RDM on the
50 test natural images.

Per subject: Spearman ρ between the model RDM (1 − Pearson r over the region's features) and the
ROI RDM (1 − Pearson r between repetition-averaged voxel patterns). Ceiling per subject: split-half
reliability of the ROI RDM across repetitions, Spearman–Brown corrected. Score: mean ρ over
subjects divided by the mean ceiling; ``raw`` and ``ceiling`` attributes hold the per-subject values.

Images: ``screen='brainscore'`` (default) places each 12° image on the model's field of view as
Brain-Score's benchmarks do (an 8° model sees its central two thirds); ``screen='whole'`` feeds
the whole image resized to the model's input, as the authors did. The Score's ``screen``
attribute says which was used.

Interval (beyond the paper): ``bootstrap`` samples (default 1000; 0: none) of a bootstrap over
subjects and images together (realnet_brainscore.inference, rsatoolbox's ``eval_dual_bootstrap``
semantics) give the Score's ``raw_interval``, the 95 % percentile interval of the mean ρ, and
``interval``, that of the score (mean ρ ÷ the mean ceiling, held at its full-data value).

Data: ``shen2019`` (a folder with the three test-set h5 files, stimulus_ImageNetTest.tsv and
images/), else ``$REALNET_SHEN2019``.
"""
import functools
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import xarray as xr
from brainscore_core.benchmarks import BenchmarkBase
from brainscore_core.metrics import Score
from brainscore_vision.model_interface import BrainModel

from realnet_brainscore.data import data_folder, shen2019
from realnet_brainscore.data.shen2019 import VISUAL_DEGREES
from realnet_brainscore.data.dataset import Recording
from realnet_brainscore.data.things_eeg2 import subject_name
from realnet_brainscore.citation import REALNET_BIBTEX
from realnet_brainscore.errors import RealnetError
from realnet_brainscore.inference import SAMPLES, check_samples, score_interval
from realnet_brainscore.recording import check_images, check_screen, region_rdm, stimulus_set
from realnet_brainscore.records import Kind
from realnet_brainscore.rsa import model_rdm, spearman, split_half_reliability

# Which model region each ROI is compared with (one place; V3 lies between V2 and V4 and has no
# CORnet-S area of its own: it is read from V2, the earlier neighbour).
ROI_REGION = {'V1': 'V1', 'V2': 'V2', 'V3': 'V2', 'V4': 'V4', 'LOC': 'IT', 'FFA': 'IT', 'PPA': 'IT', 'HVC': 'IT'}
BIBTEX = """@article{shen2019deep,
  title={Deep image reconstruction from human brain activity},
  author={Shen, Guohua and Horikawa, Tomoyasu and Majima, Kei and Kamitani, Yukiyasu},
  journal={PLoS Computational Biology}, volume={15}, number={1}, pages={e1006633}, year={2019}}
""" + REALNET_BIBTEX


class ShenRSA(BenchmarkBase):
    kind = Kind.FMRI  # what its score records say it measures (its parent: the ROI)

    def __init__(self, roi: str, shen2019=None, region: str | None = None, drop_nan_voxels: bool = False,
                 screen: str = 'brainscore', bootstrap: int = SAMPLES, data=None, name: str = shen2019.NAME):
        super().__init__(identifier=f'{name}.{roi}-rsa', ceiling=None, version=1, parent=roi,
                         bibtex=BIBTEX if data is None else REALNET_BIBTEX)
        self.roi, self.shen2019, self.region = roi, shen2019, region or ROI_REGION[roi]
        self.data = data  # a data-set card: that fMRI data set instead of Shen 2019 (``name`` is its name)
        self.drop_nan_voxels, self.screen = drop_nan_voxels, check_screen(screen)
        self.bootstrap = check_samples(bootstrap)

    def reference(self) -> 'ROIReference':
        if self.data is not None:
            return card_roi_reference(str(Path(self.data).resolve()), self.roi)
        folder = data_folder('shen2019', self.shen2019)
        if not folder:
            raise RealnetError('no Shen 2019 data: pass `shen2019` DIR or set REALNET_SHEN2019 (a folder with the '
                               'sub-0N_perceptionNaturalImageTest_original_VC.h5 files, the tsv and images/)')
        return roi_reference(folder, self.roi, bool(self.drop_nan_voxels))

    @property
    def ceiling(self) -> Score:
        return Score(self.reference().ceilings.mean())

    def __call__(self, candidate: BrainModel) -> Score:
        reference = self.reference()
        rdm = region_rdm(candidate, self.region, reference.stimulus_set(), reference.visual_degrees, self.screen)
        rho = spearman(rdm, reference.rdms)
        score = Score(rho.mean() / reference.ceilings.mean())
        subjects = {'subject': reference.subjects}
        score.attrs['raw'] = xr.DataArray(rho, dims='subject', coords=subjects)
        score.attrs['ceiling'] = xr.DataArray(reference.ceilings, dims='subject', coords=subjects)
        score.attrs['region'] = self.region
        score.attrs['screen'] = self.screen
        if check_samples(self.bootstrap):  # set after loading too (load_benchmark's options)
            score.attrs.update(score_interval(rdm, reference.rdms, float(reference.ceilings.mean()),
                                              samples=self.bootstrap))
        return score

    def settings(self) -> dict:
        """What the score depends on besides the model and the data (``brainscore compare`` reuses
        a kept score only while these stay the same)."""
        return {'version': self.version, 'screen': self.screen, 'region': self.region,
                'drop_nan_voxels': bool(self.drop_nan_voxels), 'bootstrap': self.bootstrap,
                **({'data': str(Path(self.data).resolve())} if self.data is not None else {})}


@dataclass(frozen=True)
class ROIReference:
    stimulus_ids: list
    image_paths: list
    subjects: list
    rdms: np.ndarray       # subjects × pairs
    ceilings: np.ndarray   # subjects
    visual_degrees: float = VISUAL_DEGREES  # the images' size on the participants' screen
    name: str = 'Shen2019_test'             # names the stimulus set

    def stimulus_set(self):
        return stimulus_set(self.stimulus_ids, self.image_paths, f'{self.name}-rsa')


@functools.lru_cache(maxsize=16)
def roi_reference(folder: str, roi: str, drop_nan_voxels: bool = False) -> ROIReference:
    subjects = [s for s in shen2019.SUBJECTS if shen2019.h5_path(folder, s).is_file()]
    if not subjects:
        raise RealnetError(f'{folder}: no sub-0N_perceptionNaturalImageTest_original_VC.h5 files')
    recordings = []
    for subject in subjects:
        assembly = shen2019.load_roi(folder, subject, roi, drop_nan_voxels=drop_nan_voxels)
        ids = list(dict.fromkeys(assembly['stimulus_id'].values))
        trials = assembly.values.reshape(len(ids), -1, assembly.shape[1])  # images × repetitions × voxels
        paths = list(assembly['image_path'].values[::trials.shape[1]])
        recordings.append(Recording(str(shen2019.h5_path(folder, subject)), tuple(ids), tuple(paths), trials, ()))
    reference = reference_of(recordings, roi)
    return replace(reference, subjects=[subject_name(s) for s in subjects])


@functools.lru_cache(maxsize=16)
def card_roi_reference(card: str, roi: str) -> ROIReference:
    """The same for an ROI of the fMRI data set a data-set card describes (realnet_brainscore/data/card.py)."""
    from realnet_brainscore.data.card import load_card, open_dataset
    dataset = open_dataset(load_card(card))
    if dataset.timed or roi not in (dataset.rois or {}):
        raise RealnetError(f'{card}: no fMRI ROI {roi!r} (its ROIs: {", ".join(dataset.rois or {}) or "none"})')
    columns = list(dataset.rois[roi])
    recordings = [dataset.recording(subject, 'test') for subject in dataset.subjects]
    recordings = [replace(r, values=r.values[:, :, columns]) for r in recordings]
    return replace(reference_of(recordings, roi), visual_degrees=dataset.visual_degrees, name=dataset.name)


def reference_of(recordings: list, roi: str) -> ROIReference:
    """An ROIReference from each subject's Recording of one ROI (``subject``: its file, for messages;
    values images × repetitions × voxels): the RDM of the repetition means and its split-half ceiling."""
    first = recordings[0]
    if len(first.stimulus_ids) < 3:
        raise RealnetError(f'the test set has {len(first.stimulus_ids)} images; an RDM needs at least 3')
    check_images(first.image_paths)
    rdms, ceilings = [], []
    for recording in recordings:
        if recording.stimulus_ids != first.stimulus_ids:
            raise RealnetError(f'{recording.subject}: other test images than {first.subject}')
        with np.errstate(invalid='ignore', divide='ignore'):  # the check below says it in one line
            rdms.append(model_rdm(recording.values.mean(axis=1)))
        if not np.isfinite(rdms[-1]).all():  # an image whose voxels all hold one value
            raise RealnetError(f'{recording.subject}: the {roi} RDM is undefined: some image evokes the same value in '
                               f'every {roi} voxel')
        ceilings.append(split_half_reliability(recording.values))
    return ROIReference(list(first.stimulus_ids), list(first.image_paths), [r.subject for r in recordings],
                        np.stack(rdms), np.array(ceilings))
