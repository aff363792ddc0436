"""Figures from score records: EEG temporal RSA time courses (ReAlnet's Figure 1B), fMRI ROI
similarities (its Figure 1C), behavioural scores (1D) and the matched-subject view.

A score record is what ``brainscore score --json`` writes: model, benchmark, score, raw, ceiling,
and for the temporal RSA benchmarks ``time_course`` (subject × time_bin) and ``ceiling_time_course``.
"""
import json
import re
from collections import defaultdict
from pathlib import Path

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .errors import RealnetError, first_line  # noqa: E402
from .files import atomic_path  # noqa: E402
from .rsa import cluster_test  # noqa: E402

EEG_REGION = re.compile(r'\.(\w+)-temporal_rsa$')
SHEN_ROI = re.compile(r'^Shen2019\.(\w+)-rsa$')
SUITE_FIGURES = {'eeg': 'eeg_time_courses.png', 'fmri': 'fmri_rois.png'}  # what `score --plot DIR` writes
# The labelled arrays of a temporal RSA record and the dims the figures read them by.
TIME_COURSES = {'time_course': ['subject', 'time_bin'], 'ceiling_time_course': ['bound', 'time_bin']}


def read_score_record(path) -> dict:
    """The score record in the JSON file ``path`` (what ``brainscore score --benchmark B --json``
    writes), once it holds what the figures read; else one line naming the file and the fault."""
    try:
        record = json.loads(Path(path).read_bytes())
    except (OSError, ValueError, RecursionError) as error:
        raise RealnetError(f'{path}: not a readable score file ({first_line(error)})') from None
    problem = score_record_problem(record)
    if problem:
        raise RealnetError(f'{path}: not the score of one benchmark as `score --benchmark B --json` writes it: '
                           f'{problem}')
    return record


def score_record_problem(record) -> str | None:
    """What keeps ``record`` (parsed JSON) from being a score record the figures and statistics can
    use: a model and benchmark name, a numeric score, settings (screen, rdm_method, window, raw) of
    the right types where present, and for a temporal RSA benchmark both time courses with matching
    coords; None when nothing does."""
    if not isinstance(record, dict):
        return f'it holds a JSON {_json_kind(record)}, not an object with model, benchmark and score'
    missing = [key for key in ('model', 'benchmark', 'score') if key not in record]
    if missing:
        return f'it has no {missing[0]}'
    for key in ('model', 'benchmark', 'screen', 'rdm_method'):
        if key in record and not isinstance(record[key], str):
            return f'{key} is {_shown(record[key])}, not a name'
    if not _is_number(record['score']):
        return f'score is {_shown(record["score"])}, not a number'
    window = record.get('window')
    if 'window' in record and not (isinstance(window, list) and len(window) == 2 and all(map(_is_number, window))):
        return f'window is {_shown(window)}, not [start, stop] in seconds'
    raw = record.get('raw')  # a labelled raw holds per-subject values, which paired_p reads
    if isinstance(raw, dict) and not (isinstance(raw.get('dims'), list) and _numbers(raw.get('values'))):
        return 'raw is not a labelled array of numbers ({"dims", "values"})'
    if EEG_REGION.search(record['benchmark']):
        return _time_courses_problem(record)
    return None


def _time_courses_problem(record: dict) -> str | None:
    for key, dims in TIME_COURSES.items():
        if key not in record:
            return f'a temporal RSA score without {key}'
        problem = _labelled_problem(key, record[key], dims)
        if problem:
            return problem
    course, ceiling = (np.asarray(record[key]['values']) for key in TIME_COURSES)
    if course.shape[1] != ceiling.shape[1] or ceiling.shape[0] != 2:
        return (f'ceiling_time_course is {ceiling.shape[0]} × {ceiling.shape[1]}, not 2 bounds × the '
                f'{course.shape[1]} time points of time_course')
    if not course.size:
        return 'time_course holds no subject or no time point'
    return None


def _labelled_problem(name: str, array, dims: list | None = None) -> str | None:
    """What keeps ``array`` from being a labelled array as score records hold them: {dims,
    coords: {dim: labels}, values} with numeric values of the coords' shape (and ``dims``, if given;
    time bins numeric)."""
    if not (isinstance(array, dict) and isinstance(array.get('dims'), list) and 'values' in array
            and all(isinstance(d, str) for d in array['dims'])):
        return f'{name} is not a labelled array ({{"dims", "coords", "values"}})'
    if dims is not None and array['dims'] != dims:
        return f'{name} has dims {_shown(array["dims"])}, expected {dims}'
    coords = array.get('coords') if isinstance(array.get('coords'), dict) else {}
    missing = [d for d in array['dims'] if not isinstance(coords.get(d), list)]
    if missing:
        return f'{name} has no coords for its dim {missing[0]!r}'
    if 'time_bin' in coords and not _numbers(coords['time_bin']):
        return f'{name} has time bins that are not numbers (seconds)'
    if not _numbers(array['values']):
        return f'{name} values are not an array of numbers (a string, a null or rows of unequal length)'
    shape, expected = np.shape(array['values']), tuple(len(coords[d]) for d in array['dims'])
    if shape != expected:
        return f'{name} values have shape {shape}, its coords {expected}'
    return None


def _numbers(value) -> bool:
    """Whether ``value`` is a number or a regular (not ragged) nest of lists of numbers."""
    try:
        return np.asarray(value).dtype.kind in 'iuf'
    except ValueError:  # ragged
        return False


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json_kind(value) -> str:
    return {list: 'list', str: 'string', bool: 'boolean', type(None): 'null'}.get(type(value), 'number')


def _shown(value) -> str:
    """``value`` briefly, for a one-line message."""
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + '...'


def plot_temporal_rsa(records: list[dict], out, pair: tuple[str, str] | None = None, seed: int = 0,
                      time_range: tuple[float, float] | None = None) -> dict:
    """One panel per region: each model's mean ± SEM over subjects, the noise-ceiling band, and dots
    where the cluster test finds the ``pair`` of models (default: the first two) different.
    ``time_range``: the first and last time point (s) drawn and tested (default: all).
    Returns {region: significant time points (s)} for the pair."""
    by_region = defaultdict(dict)
    for record in records:
        match = EEG_REGION.search(record.get('benchmark', ''))
        if not match or 'time_course' not in record:
            raise RealnetError(f"{record.get('benchmark')!r} is not a temporal RSA score with a time course")
        by_region[match.group(1)][record['model']] = within(record, time_range)
    regions = [r for r in ('V1', 'V2', 'V4', 'IT') if r in by_region] + sorted(set(by_region) - {'V1', 'V2', 'V4', 'IT'})
    figure, axes = plt.subplots(1, len(regions), figsize=(4.6 * len(regions), 3.6), sharey=True, squeeze=False)
    significant = {}
    for axis, region in zip(axes[0], regions):
        _check_comparable(region, by_region[region])
        significant[region] = _panel(axis, region, by_region[region], pair, seed)
    axes[0][0].set_ylabel("Spearman ρ (model RDM, EEG RDM)")
    figure.tight_layout()
    with atomic_path(out) as partial:
        figure.savefig(partial, dpi=130, format='png', bbox_inches='tight')
    plt.close(figure)
    return significant


def within(record: dict, time_range) -> dict:
    """A temporal RSA record with its time courses cut to ``time_range`` (first, last time point in s)."""
    if time_range is None:
        return record
    times = np.asarray(record['time_course']['coords']['time_bin'], dtype=float)
    keep = (times >= time_range[0] - 1e-9) & (times <= time_range[1] + 1e-9)
    if not keep.any():
        raise RealnetError(f"{record['benchmark']} has no time point in {time_range[0] * 1000:.0f} … "
                           f"{time_range[1] * 1000:.0f} ms")
    cut = {}
    for key in ('time_course', 'ceiling_time_course'):
        if key in record:
            course = record[key]
            cut[key] = {**course, 'values': np.asarray(course['values'], dtype=float)[:, keep].tolist(),
                        'coords': {**course['coords'], 'time_bin': times[keep].tolist()}}
    return {**record, **cut}


def _check_comparable(region: str, models: dict) -> None:
    """Models share a panel on the same time points, and are tested in pairs on the same subjects."""
    (first, record), *others = models.items()
    for other, course in ((name, r['time_course']['coords']) for name, r in others):
        for coord, what in (('time_bin', 'time points'), ('subject', 'subjects')):
            if course[coord] != record['time_course']['coords'][coord]:
                raise RealnetError(f'{region}: {other} and {first} were scored on other {what}; '
                                   'their time courses cannot be drawn and tested together')


def _panel(axis, region, models: dict, pair, seed):
    first = next(iter(models.values()))
    times = np.asarray(first['time_course']['coords']['time_bin']) * 1000
    bounds = np.asarray(first['ceiling_time_course']['values'])
    axis.fill_between(times, bounds[0], bounds[1], color='0.85', label='noise ceiling')
    colours = plt.rcParams['axes.prop_cycle'].by_key()['color']
    courses = {}
    for index, (model, record) in enumerate(models.items()):
        values = np.asarray(record['time_course']['values'], dtype=float)
        courses[model] = values
        mean, sem = values.mean(0), values.std(0, ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0 * values[0]
        colour = colours[index % len(colours)]
        label = f'{model} ({record["score"]:.2f})' if 'score' in record else model
        axis.plot(times, mean, color=colour, lw=1.6, label=label)
        axis.fill_between(times, mean - sem, mean + sem, color=colour, alpha=0.25, lw=0)
    found = np.array([])
    names = list(pair) if pair else list(courses)[:2]
    if len(names) == 2 and all(n in courses for n in names) and len(courses[names[0]]) > 2:
        mask = cluster_test(courses[names[0]], courses[names[1]], seed=seed)['significant']
        found = times[mask] / 1000
        bottom = axis.get_ylim()[0]
        axis.plot(times[mask], np.full(mask.sum(), bottom), 's', ms=3, color='k',
                  label=f'{names[0]} ≠ {names[1]} (cluster p < .05)')
    axis.axvline(0, color='0.5', lw=0.8, ls=':')
    axis.set_title(f'{region}: model–EEG similarity')
    axis.set_xlabel('time from image onset (ms)')
    axis.legend(fontsize=7, loc='upper center', bbox_to_anchor=(0.5, -0.2), frameon=False)  # below: no data hidden
    return found


def plot_roi_rsa(records: list[dict], out, baseline: str | None = None) -> dict:
    """Shen 2019 ROI scores (ReAlnet's Figure 1C): see ``plot_benchmark_scores``. Returns {roi: p}."""
    for record in records:
        if not SHEN_ROI.match(record.get('benchmark', '')):
            raise RealnetError(f"{record.get('benchmark')!r} is not a Shen 2019 ROI score")
    order = ['V1', 'V2', 'V3', 'V4', 'LOC', 'FFA', 'PPA', 'HVC']
    rank = {roi: index for index, roi in enumerate(order)}
    records = sorted(records, key=lambda r: rank.get(SHEN_ROI.match(r['benchmark']).group(1), len(order)))
    p_values = plot_benchmark_scores(records, out, baseline, label=lambda b: SHEN_ROI.match(b).group(1),
                                     ylabel='similarity to fMRI (ceiling-normalised)', title='model–fMRI RSA per ROI')
    return {SHEN_ROI.match(b).group(1): p for b, p in p_values.items()}


def plot_benchmark_scores(records: list[dict], out, baseline: str | None = None, label=str,
                          ylabel: str = 'score', title: str = 'scores') -> dict:
    """Per benchmark: a bar for the baseline model, a dot for each other model, and a star where the
    others differ from the baseline (p < .05; see ``paired_p``). Returns {benchmark: p}."""
    by_benchmark = defaultdict(dict)
    for record in records:
        by_benchmark[record['benchmark']][record['model']] = record
    benchmarks = list(by_benchmark)
    models = list(dict.fromkeys(m for b in benchmarks for m in by_benchmark[b]))
    baseline = baseline or models[0]
    others = [m for m in models if m != baseline]
    figure, axis = plt.subplots(figsize=(max(4.0, 0.9 * len(benchmarks) + 2), 3.8))
    p_values = {}
    for x, benchmark in enumerate(benchmarks):
        scores = by_benchmark[benchmark]
        if baseline in scores:
            axis.bar(x, scores[baseline]['score'], width=0.6, color='0.75', label=baseline if x == 0 else None)
        values = [scores[m]['score'] for m in others if m in scores]
        axis.plot(np.full(len(values), x) + np.linspace(-0.15, 0.15, len(values)), values, 'o', ms=4,
                  color='tab:orange', label=', '.join(others) if len(others) < 3 else f'{len(others)} other models')
        if baseline in scores and values:
            p_values[benchmark] = paired_p(scores, baseline, [m for m in others if m in scores])
            if p_values[benchmark] < 0.05:
                axis.text(x, max([scores[baseline]['score']] + values) * 1.04, '*', ha='center', fontsize=14)
    handles, labels = axis.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    axis.legend(unique.values(), unique.keys(), fontsize=7, frameon=False)
    axis.set_ylim(top=axis.get_ylim()[1] * 1.1)
    axis.set_xticks(range(len(benchmarks)), [label(b) for b in benchmarks], rotation=30 if len(benchmarks) > 8 else 0,
                    ha='right' if len(benchmarks) > 8 else 'center', fontsize=8)
    axis.set_ylabel(ylabel)
    axis.set_title(f'{title} (* p < .05 vs {baseline})', fontsize=9)
    figure.tight_layout()
    with atomic_path(out) as partial:
        figure.savefig(partial, dpi=130, format='png', bbox_inches='tight')
    plt.close(figure)
    return p_values


def paired_p(scores: dict, baseline: str, others: list[str]) -> float:
    """p of the others against the baseline on one benchmark: a one-sample t-test of their score
    differences when there are several models; with one, a paired t-test across the subjects the
    score's ``raw`` attribute holds; nan when neither is possible."""
    from scipy.stats import ttest_1samp, ttest_rel
    if len(others) > 1:
        return float(ttest_1samp([scores[m]['score'] - scores[baseline]['score'] for m in others], 0).pvalue)
    raws = [scores[m].get('raw') for m in (others[0], baseline)]
    if not all(isinstance(r, dict) and 'subject' in r.get('dims', []) for r in raws):
        return float('nan')
    a, b = (np.asarray(r['values'], dtype=float) for r in raws)
    return float(ttest_rel(a, b).pvalue) if len(a) > 1 and a.shape == b.shape else float('nan')


def plot_matched_subjects(rows: list[dict], out) -> None:
    """One panel per region: for each personal model, its window-mean similarity to its own
    subject minus that to the other subjects, beside the same difference for the baseline (which
    shows how much of it is that subject's data rather than the alignment)."""
    regions = list(dict.fromkeys(row['region'] for row in rows))
    figure, axes = plt.subplots(1, len(regions), figsize=(max(3.2, 0.5 * len(rows) / len(regions) + 2) * len(regions),
                                                            3.4), sharey=True, squeeze=False)
    for axis, region in zip(axes[0], regions):
        chosen = [row for row in rows if row['region'] == region]
        x = np.arange(len(chosen))
        axis.bar(x - 0.18, [r['own'] - r['others'] for r in chosen], width=0.36, color='tab:orange',
                 label='model: own subject − others')
        axis.bar(x + 0.18, [r['baseline_own'] - r['baseline_others'] for r in chosen], width=0.36, color='0.7',
                 label='baseline: same subject − others')
        axis.axhline(0, color='k', lw=0.6)
        axis.set_xticks(x, [r['model'] for r in chosen], rotation=45, ha='right', fontsize=7)
        axis.set_title(f'{region}: matched subject', fontsize=9)
    axes[0][0].set_ylabel('Δ Spearman ρ (window mean)')
    axes[0][0].legend(fontsize=7, frameon=False)
    figure.tight_layout()
    with atomic_path(out) as partial:
        figure.savefig(partial, dpi=130, format='png', bbox_inches='tight')
    plt.close(figure)


def plot_figures(records: list[dict], folder) -> list:
    """Every figure the records allow, into ``folder``: SUITE_FIGURES' eeg and fmri files."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    eeg = [r for r in records if EEG_REGION.search(r.get('benchmark', '')) and 'time_course' in r]
    fmri = [r for r in records if SHEN_ROI.match(r.get('benchmark', ''))]
    written = []
    for draw, chosen, name in ((plot_temporal_rsa, eeg, SUITE_FIGURES['eeg']),
                               (plot_roi_rsa, fmri, SUITE_FIGURES['fmri'])):
        if chosen:
            draw(chosen, folder / name)
            written.append(folder / name)
    return written
