"""Statistics of score records, computed once and returned as data for the figures and reports to
show: paired tests of models against a baseline (Figure 1C, 1D), the cluster-based permutation
test of EEG time courses (1B), and the matched-subject view (ReAlnet k on its own subject k)."""
import warnings
from dataclasses import dataclass, replace

import numpy as np

from .cornet import AREAS
from .data.shen2019 import ROIS
from .data.things_eeg2 import subject_name
from .errors import RealnetError
from .identifiers import eeg_subject
from .neurora_cluster import CLUSTER_TESTS, NEURORA_PERMUTATIONS, neurora_cluster_test
from .records import Kind, LabelledArray, ScoreRecord, range_mask, time_mask

# Personal models needed before Figure 1B pairs each with its own subject: with fewer than 6 the
# paired sign-flip permutation test cannot reach p < .05 (2 / 2**5 > .05).
MATCHED_GROUP = 6
ALPHA = 0.05


def paired_p(scores: dict[str, ScoreRecord], baseline: str, others: list[str]) -> float:
    """p of the others against the baseline on one benchmark: a one-sample t-test of their score
    differences when there are several models; with one, a paired t-test across the subjects the
    score's ``raw`` attribute holds; nan when neither is possible."""
    from scipy.stats import ttest_1samp, ttest_rel
    if len(others) > 1:
        return float(ttest_1samp([scores[m].score - scores[baseline].score for m in others], 0).pvalue)
    raws = [scores[m].raw for m in (others[0], baseline)]
    if not all(isinstance(r, LabelledArray) and 'subject' in r.dims for r in raws):
        return float('nan')
    a, b = (np.asarray(r.values, dtype=float) for r in raws)
    return float(ttest_rel(a, b).pvalue) if a.ndim == 1 and len(a) > 1 and a.shape == b.shape else float('nan')


def cluster_test(a: np.ndarray, b, n_permutations: int | None = None, alpha: float = ALPHA, seed: int = 0,
                 method: str = 'mne', tail: int = 0) -> dict:
    """Paired cluster-based permutation test of subjects × times ``a`` against ``b`` (the same shape,
    or a level), two-sided (``tail=0``) or a > b (``tail=1``); clusters are formed by t at p < alpha.

    ``method``: 'mne' (mne's permutation_cluster_1samp_test: sign flips of whole difference time
    courses, 1024 permutations) or 'neurora' (the authors' NeuroRA 1.1.6.12 test, see
    ``neurora_cluster``: values shuffled at each time point inside the clusters, clusters of at least
    two points, 1000 permutations). Returns ``significant`` (a boolean per time point, inside a
    cluster with p < alpha), ``clusters`` (index arrays), their ``p_values`` and the ``method``."""
    if method not in CLUSTER_TESTS:
        raise RealnetError(f'unknown cluster test {method!r}; one of {", ".join(CLUSTER_TESTS)}')
    a = np.asarray(a, dtype=np.float64)
    difference = a - np.asarray(b, dtype=np.float64)
    if not np.any(difference):  # identical time courses: t is undefined, and there is nothing to find
        return {'significant': np.zeros(difference.shape[1], dtype=bool), 'clusters': [], 'p_values': np.array([]),
                'method': method}
    if method == 'neurora':
        found = neurora_cluster_test(a, b, n_permutations or NEURORA_PERMUTATIONS, alpha, seed, tail)
        return {**found, 'method': method}
    return {**_mne_cluster_test(difference, n_permutations or 1024, alpha, seed, tail), 'method': method}


def _mne_cluster_test(difference: np.ndarray, n_permutations: int, alpha: float, seed: int, tail: int) -> dict:
    from mne.stats import permutation_cluster_1samp_test
    from scipy.stats import t as student_t
    threshold = student_t.ppf(1 - alpha / (2 - tail), df=len(difference) - 1)
    with warnings.catch_warnings():
        warnings.filterwarnings('ignore', message='No clusters found')  # an answer, not a problem
        _, clusters, p_values, _ = permutation_cluster_1samp_test(
            difference, threshold=threshold, n_permutations=n_permutations, tail=tail, seed=seed, out_type='mask',
            verbose=False)
    masks = []
    for cluster in clusters:  # a boolean mask or, for one-dimensional data, a tuple of slices
        mask = np.zeros(difference.shape[1], dtype=bool)
        mask[cluster] = True
        masks.append(mask)
    significant = np.zeros(difference.shape[1], dtype=bool)
    for mask, p in zip(masks, p_values):
        significant |= mask & (p < alpha)
    return {'significant': significant, 'clusters': [np.flatnonzero(m) for m in masks],
            'p_values': np.asarray(p_values)}


@dataclass(frozen=True, eq=False)
class TimeCourses:
    """One region's time courses, drawn in one panel and tested in pairs: every course on the same
    subjects and time points."""
    benchmark: str
    area: str
    subjects: list         # the rows of each course
    times: np.ndarray      # s
    ceiling: np.ndarray    # 2 (lower, upper bound) × times
    courses: dict          # label -> subjects × times Spearman ρ
    scores: dict           # label -> its score, where the label is a scored model

    def within(self, time_range) -> 'TimeCourses':
        """Only the time points of ``time_range`` (first, last in s; None: all)."""
        if time_range is None:
            return self
        keep = range_mask(self.times, time_range, self.benchmark)
        return replace(self, times=self.times[keep], ceiling=self.ceiling[:, keep],
                       courses={label: values[:, keep] for label, values in self.courses.items()})


def time_courses(records: list[ScoreRecord], time_range=None) -> list[TimeCourses]:
    """The temporal RSA ``records`` as panels, one per region (in the model's order), each model's
    time course in its region's, cut to ``time_range`` (first, last time point in s; None: all)."""
    by_area = {}
    for record in records:
        if record.kind != Kind.EEG or record.time_course is None:
            raise RealnetError(f'{record.benchmark!r} is not a temporal RSA score with a time course')
        by_area.setdefault(record.area, {})[record.model] = record
    panels = []
    for area, models in by_area.items():
        (first, record), *others = models.items()
        for other, course in others:
            for what, coord in (('time points', 'times'), ('subjects', 'subjects')):
                if not np.array_equal(getattr(course, coord), getattr(record, coord)):
                    raise RealnetError(f'{area}: {other} and {first} were scored on other {what}; '
                                       'their time courses cannot be drawn and tested together')
        panels.append(TimeCourses(record.benchmark, area, record.subjects, record.times,
                                  np.asarray(record.ceiling_time_course.values, dtype=float),
                                  {m: np.asarray(r.time_course.values, dtype=float) for m, r in models.items()},
                                  {m: r.score for m, r in models.items()}).within(time_range))
    return in_order(panels, AREAS, key=lambda panel: panel.area)


def in_order(items: list, order, key) -> list:
    """``items`` in ``order`` of their ``key``, those it does not name after them by key (sorted)."""
    rank = {name: index for index, name in enumerate(order)}
    return sorted(items, key=lambda item: (rank.get(key(item), len(rank)), '' if key(item) in rank else str(key(item))))


@dataclass(frozen=True, eq=False)
class TimeCourseComparison:
    """Panels of time courses and, per region, the pair the cluster test compared and the time
    points inside its significant clusters."""
    panels: list
    tested: dict        # area -> (label, label) of the pair tested
    significant: dict   # area -> a boolean per time point of the panel
    method: str = 'mne'  # the cluster test that found them (see cluster_test)

    def significant_times(self, panel: TimeCourses) -> np.ndarray:
        """The time points (s) of ``panel`` in significant clusters (none where nothing was tested)."""
        mask = self.significant.get(panel.area)
        return panel.times[mask] if mask is not None else np.array([])

    def clusters(self) -> dict[str, list[dict]]:
        """Per region, each run of significant time points: its first and last (s) and the mean
        difference of the pair's time courses over the subjects and those time points."""
        found = {}
        for panel in self.panels:
            times = self.significant_times(panel)
            found[panel.area] = [{'start_s': start, 'stop_s': stop, 'difference': _difference(
                panel, self.tested.get(panel.area), start, stop)} for start, stop in _runs(times, panel.times)]
        return found

    def lines(self) -> list[str]:
        """Where each region's pair differs, one line a region that has a cluster."""
        lines = []
        for panel in self.panels:
            times = self.significant_times(panel)
            if len(times):
                lines.append(f'{panel.area}: the pair differs at {times.min() * 1000:.0f}-{times.max() * 1000:.0f} ms '
                             f'({len(times)} time points in significant clusters)')
        return lines


def compare_time_courses(panels: list[TimeCourses], pair: tuple[str, str] | None = None,
                         seed: int = 0, method: str = 'mne') -> TimeCourseComparison:
    """The cluster test (``method``, see ``cluster_test``) of ``pair`` (default: each panel's first
    two courses) in every panel of more than two subjects."""
    tested, significant = {}, {}
    for panel in panels:
        names = list(pair) if pair else list(panel.courses)[:2]
        if len(names) == 2 and all(n in panel.courses for n in names) and len(panel.courses[names[0]]) > 2:
            tested[panel.area] = tuple(names)
            significant[panel.area] = cluster_test(panel.courses[names[0]], panel.courses[names[1]],
                                                   seed=seed, method=method)['significant']
    return TimeCourseComparison(panels, tested, significant, method)


def _runs(times: np.ndarray, axis: np.ndarray) -> list[tuple[float, float]]:
    """``times`` as (first, last) of each run of neighbours on ``axis`` (a gap: over 1.5 steps)."""
    step = float(np.min(np.diff(axis), initial=1.0))
    times = np.sort(np.asarray(times, dtype=float))
    breaks = np.flatnonzero(np.diff(times) > 1.5 * step) + 1
    return [(float(run[0]), float(run[-1])) for run in np.split(times, breaks) if len(run)]


def _difference(panel: TimeCourses, pair, start: float, stop: float) -> float:
    inside = time_mask(panel.times, start, stop, last=True)
    first, second = (panel.courses[name][:, inside].mean() for name in pair)
    return float(first - second)


@dataclass(frozen=True, eq=False)
class ScoreComparison:
    """Per benchmark, each model's record, and p of the other models against the baseline."""
    scores: dict       # benchmark -> {model: record}, in the order drawn
    labels: dict       # benchmark -> its name on the figure
    baseline: str
    others: list
    p_values: dict     # benchmark -> p (where the baseline and another model were scored)

    def labelled_p(self) -> dict[str, float]:
        return {self.labels[benchmark]: p for benchmark, p in self.p_values.items()}

    def lines(self) -> list[str]:
        """Each p, one line a benchmark (by its name on the figure)."""
        return [f'{label}: p = {p:.3g}' for label, p in self.labelled_p().items()]


def compare_scores(records: list[ScoreRecord], baseline: str | None = None, label=str) -> ScoreComparison:
    """``records`` by benchmark (in their order), against ``baseline`` (default: the first model)
    with ``paired_p``; ``label`` names a benchmark on the figure."""
    scores = {}
    for record in records:
        scores.setdefault(record.benchmark, {})[record.model] = record
    models = list(dict.fromkeys(m for by_model in scores.values() for m in by_model))
    baseline = baseline or models[0]
    others = [m for m in models if m != baseline]
    p_values = {}
    for benchmark, by_model in scores.items():
        present = [m for m in others if m in by_model]
        if baseline in by_model and present:
            p_values[benchmark] = paired_p(by_model, baseline, present)
    return ScoreComparison(scores, {b: label(b) for b in scores}, baseline, others, p_values)


def compare_roi_scores(records: list[ScoreRecord], baseline: str | None = None) -> ScoreComparison:
    """Shen 2019 ROI scores (Figure 1C) in the ROIs' order, named by ROI: see ``compare_scores``."""
    for record in records:
        if record.kind != Kind.FMRI:
            raise RealnetError(f'{record.benchmark!r} is not a Shen 2019 ROI score')
    records = in_order(records, ROIS, key=lambda record: record.area)
    areas = {record.benchmark: record.area for record in records}
    return compare_scores(records, baseline, label=areas.get)


def own_subject(name: str) -> str | None:
    """The THINGS-EEG2 subject a personal EEG model (``realnet-sNN``, ``resnet50-eeg-sNN``, with or
    without ``+hash``) was aligned with; None for any other model."""
    subject = eeg_subject(name)
    return subject_name(subject) if subject is not None else None


def eeg_view(records: dict[str, dict[str, ScoreRecord]], baseline: str,
             time_range=None) -> tuple[list[TimeCourses], tuple | None]:
    """The time courses Figure 1B draws (cut to ``time_range``, see ``time_courses``) and the pair
    its cluster test compares.

    With at least MATCHED_GROUP personal models whose subjects are in the data (the paper's
    design), each ReAlnet k is paired with subject k and the baseline is taken on the same
    subjects; otherwise every model is drawn over all subjects and the first non-baseline model is
    tested against the baseline."""
    eeg = {name: {b: r for b, r in scores.items() if r.kind == Kind.EEG and r.time_course is not None}
           for name, scores in records.items()}
    others = [name for name in eeg if name != baseline and eeg[name]]
    matched = [name for name in others if own_subject(name) and all(
        own_subject(name) in r.subjects for r in eeg[name].values())]
    if len(matched) < MATCHED_GROUP or not eeg.get(baseline):
        panels = time_courses([r for name in eeg for r in eeg[name].values()], time_range)
        return panels, ((others[0], baseline) if others and eeg.get(baseline) else None)
    group, same = f'ReAlnets on own subject (n={len(matched)})', f'{baseline} on the same subjects'
    panels = []
    for benchmark, base in eeg[baseline].items():
        subjects = [own_subject(name) for name in matched if benchmark in eeg[name]]
        if subjects:
            own = [_course(eeg[name][benchmark], own_subject(name)) for name in matched if benchmark in eeg[name]]
            panels.append(TimeCourses(benchmark, base.area, subjects, base.times,
                                      np.asarray(base.ceiling_time_course.values, dtype=float),
                                      {group: np.stack(own), same: np.stack([_course(base, s) for s in subjects])},
                                      {}).within(time_range))
    return in_order(panels, AREAS, key=lambda panel: panel.area), (group, same)


def _course(record: ScoreRecord, subject: str) -> np.ndarray:
    return np.asarray(record.time_course.values, dtype=float)[record.subjects.index(subject)]


def matched_subject_rows(records: dict[str, dict[str, ScoreRecord]], baseline: str) -> list[dict]:
    """Per personal model and region: window-mean similarity to its own subject and to the others,
    and the baseline's on the same subjects."""
    rows = []
    for name, scores in records.items():
        subject = own_subject(name)
        if name == baseline or not subject:
            continue
        for benchmark, record in scores.items():
            base = records.get(baseline, {}).get(benchmark)
            if record.kind != Kind.EEG or record.time_course is None or not base or subject not in record.subjects:
                continue
            own, others = _own_and_others(record, subject)
            base_own, base_others = _own_and_others(base, subject)
            rows.append({'model': name, 'subject': subject, 'region': record.area, 'own': own, 'others': others,
                         'baseline_own': base_own, 'baseline_others': base_others})
    return rows


def matched_subject_statistics(rows: list[dict]) -> dict:
    """Per region: the mean personal advantage beyond the baseline's on the same subject,
    ((own − others) − (baseline own − baseline others)), and its one-sample t-test across models."""
    from scipy.stats import ttest_1samp
    summary = {}
    for region in dict.fromkeys(row['region'] for row in rows):
        advantage = [(r['own'] - r['others']) - (r['baseline_own'] - r['baseline_others'])
                     for r in rows if r['region'] == region]
        summary[region] = {'models': len(advantage), 'advantage': float(np.mean(advantage)),
                           'p': float(ttest_1samp(advantage, 0).pvalue) if len(advantage) > 1 else float('nan')}
    return summary


def _own_and_others(record: ScoreRecord, subject: str) -> tuple[float, float]:
    times = record.times
    start, stop = record.window or (times[0], times[-1] + 1)
    means = np.asarray(record.time_course.values, dtype=float)[:, time_mask(times, start, stop)].mean(axis=1)
    own = record.subjects.index(subject)
    return float(means[own]), float(np.delete(means, own).mean()) if len(means) > 1 else float('nan')
