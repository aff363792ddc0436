"""Figures from score records: EEG temporal RSA time courses (ReAlnet's Figure 1B) and fMRI ROI
similarities (its Figure 1C).

A score record is what ``brainscore score --json`` writes: model, benchmark, score, raw, ceiling,
and for the temporal RSA benchmarks ``time_course`` (subject × time_bin) and ``ceiling_time_course``.
"""
import re
from collections import defaultdict

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .errors import RealnetError  # noqa: E402
from .files import atomic_path  # noqa: E402
from .rsa import cluster_test  # noqa: E402

_REGION = re.compile(r'\.(\w+)-temporal_rsa$')
_ROI = re.compile(r'^Shen2019\.(\w+)-rsa$')


def plot_temporal_rsa(records: list[dict], out, pair: tuple[str, str] | None = None, seed: int = 0) -> dict:
    """One panel per region: each model's mean ± SEM over subjects, the noise-ceiling band, and dots
    where the cluster test finds the ``pair`` of models (default: the first two) different.
    Returns {region: significant time points (s)} for the pair."""
    by_region = defaultdict(dict)
    for record in records:
        match = _REGION.search(record.get('benchmark', ''))
        if not match or 'time_course' not in record:
            raise RealnetError(f"{record.get('benchmark')!r} is not a temporal RSA score with a time course")
        by_region[match.group(1)][record['model']] = record
    regions = [r for r in ('V1', 'V2', 'V4', 'IT') if r in by_region] + sorted(set(by_region) - {'V1', 'V2', 'V4', 'IT'})
    figure, axes = plt.subplots(1, len(regions), figsize=(4.2 * len(regions), 3.6), sharey=True, squeeze=False)
    significant = {}
    for axis, region in zip(axes[0], regions):
        significant[region] = _panel(axis, region, by_region[region], pair, seed)
    axes[0][0].set_ylabel("Spearman ρ (model RDM, EEG RDM)")
    figure.tight_layout()
    with atomic_path(out) as partial:
        figure.savefig(partial, dpi=130, format='png')
    plt.close(figure)
    return significant


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
        axis.plot(times, mean, color=colour, lw=1.6, label=f'{model} ({record["score"]:.2f})')
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
    axis.legend(fontsize=7, loc='center right', frameon=False)
    return found


def plot_roi_rsa(records: list[dict], out, baseline: str | None = None) -> dict:
    """Per ROI: a bar for the baseline model, a dot for each other model (ceiling-normalised
    scores), and a star where the others differ from the baseline (paired t-test across the other
    models when there are several, across subjects when there is one; p < .05).
    Returns {roi: p value}."""
    from scipy.stats import ttest_1samp, ttest_rel
    by_roi = defaultdict(dict)
    for record in records:
        match = _ROI.match(record.get('benchmark', ''))
        if not match:
            raise RealnetError(f"{record.get('benchmark')!r} is not a Shen 2019 ROI score")
        by_roi[match.group(1)][record['model']] = record
    rois = [r for r in ('V1', 'V2', 'V3', 'V4', 'LOC', 'FFA', 'PPA', 'HVC') if r in by_roi]
    models = list(dict.fromkeys(m for roi in rois for m in by_roi[roi]))
    baseline = baseline or models[0]
    others = [m for m in models if m != baseline]
    figure, axis = plt.subplots(figsize=(1.1 * len(rois) + 2, 3.6))
    p_values = {}
    for x, roi in enumerate(rois):
        scores = by_roi[roi]
        if baseline in scores:
            axis.bar(x, scores[baseline]['score'], width=0.6, color='0.75', label=baseline if x == 0 else None)
        values = [scores[m]['score'] for m in others if m in scores]
        axis.plot(np.full(len(values), x) + np.linspace(-0.15, 0.15, len(values)), values, 'o', ms=4,
                  color='tab:orange', label=f'{len(others)} other models' if x == 0 and values else None)
        if baseline in scores and len(values) > 1:
            p_values[roi] = ttest_1samp(np.array(values) - scores[baseline]['score'], 0).pvalue
        elif baseline in scores and len(values) == 1:
            other = next(m for m in others if m in scores)
            a, b = (np.asarray(scores[m]['raw']['values']) for m in (other, baseline))
            p_values[roi] = ttest_rel(a, b).pvalue if len(a) > 1 else np.nan
        if p_values.get(roi, 1) < 0.05:
            axis.text(x, max([scores[baseline]['score']] + values) * 1.04, '*', ha='center', fontsize=14)
    axis.set_ylim(top=axis.get_ylim()[1] * 1.1)
    axis.set_xticks(range(len(rois)), rois)
    axis.set_ylabel('similarity to fMRI (ceiling-normalised)')
    axis.set_title(f'model–fMRI RSA per ROI (* p < .05 vs {baseline})', fontsize=9)
    axis.legend(fontsize=7, frameon=False)
    figure.tight_layout()
    with atomic_path(out) as partial:
        figure.savefig(partial, dpi=130, format='png')
    plt.close(figure)
    return p_values


def plot_figures(records: list[dict], folder) -> list:
    """Every figure the records allow, into ``folder``: eeg_time_courses.png, fmri_rois.png."""
    from pathlib import Path
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    eeg = [r for r in records if _REGION.search(r.get('benchmark', '')) and 'time_course' in r]
    fmri = [r for r in records if _ROI.match(r.get('benchmark', ''))]
    if eeg:
        plot_temporal_rsa(eeg, folder / 'eeg_time_courses.png')
        written.append(folder / 'eeg_time_courses.png')
    if fmri:
        plot_roi_rsa(fmri, folder / 'fmri_rois.png')
        written.append(folder / 'fmri_rois.png')
    return written
