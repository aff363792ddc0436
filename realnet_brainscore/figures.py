"""Figures of what the statistics module computed: EEG temporal RSA time courses (ReAlnet's Figure
1B), scores per benchmark against a baseline (fMRI ROIs, Figure 1C; behaviour, 1D) and the
matched-subject view. Drawn on ``matplotlib.figure.Figure`` itself: no pyplot, so importing this
leaves matplotlib's backend as the user set it."""
import matplotlib
import numpy as np
from matplotlib.figure import Figure

from .files import atomic_path
from .records import Kind
from .statistics import ALPHA, ScoreComparison, TimeCourseComparison, TimeCourses

SUITE_FIGURES = {Kind.EEG: 'eeg_time_courses.png', Kind.FMRI: 'fmri_rois.png'}  # what `score --plot DIR` writes


def save_figure(figure: Figure, out) -> None:
    """``figure`` as a PNG at ``out``, written atomically."""
    figure.tight_layout()
    with atomic_path(out) as partial:
        figure.savefig(partial, dpi=130, format='png', bbox_inches='tight')


def draw_time_courses(comparison: TimeCourseComparison, out) -> None:
    """One panel per region: each course's mean ± SEM over subjects, the noise-ceiling band, and
    dots at the time points where the cluster test found the panel's pair different."""
    panels = comparison.panels
    figure = Figure(figsize=(4.6 * len(panels), 3.6))
    axes = figure.subplots(1, len(panels), sharey=True, squeeze=False)[0]
    for axis, panel in zip(axes, panels):
        _time_course_panel(axis, panel, comparison)
    axes[0].set_ylabel("Spearman ρ (model RDM, EEG RDM)")
    save_figure(figure, out)


def _time_course_panel(axis, panel: TimeCourses, comparison: TimeCourseComparison) -> None:
    times = panel.times * 1000
    axis.fill_between(times, panel.ceiling[0], panel.ceiling[1], color='0.85', label='noise ceiling')
    colours = matplotlib.rcParams['axes.prop_cycle'].by_key()['color']
    for index, (label, values) in enumerate(panel.courses.items()):
        mean = values.mean(0)
        sem = values.std(0, ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0 * values[0]
        colour = colours[index % len(colours)]
        axis.plot(times, mean, color=colour, lw=1.6,
                  label=f'{label} ({panel.scores[label]:.2f})' if label in panel.scores else label)
        axis.fill_between(times, mean - sem, mean + sem, color=colour, alpha=0.25, lw=0)
    if panel.area in comparison.tested:
        first, second = comparison.tested[panel.area]
        mask = comparison.significant[panel.area]
        axis.plot(times[mask], np.full(mask.sum(), axis.get_ylim()[0]), 's', ms=3, color='k',
                  label=f'{first} ≠ {second} (cluster p < .05)')
    axis.axvline(0, color='0.5', lw=0.8, ls=':')
    axis.set_title(f'{panel.area}: model–EEG similarity')
    axis.set_xlabel('time from image onset (ms)')
    axis.legend(fontsize=7, loc='upper center', bbox_to_anchor=(0.5, -0.2), frameon=False)  # below: no data hidden


def draw_scores(comparison: ScoreComparison, out, ylabel: str = 'score', title: str = 'scores') -> None:
    """Per benchmark: a bar for the baseline model, a dot for each other model, and a star where the
    others differ from the baseline (p < .05)."""
    benchmarks, baseline, others = list(comparison.scores), comparison.baseline, comparison.others
    figure = Figure(figsize=(max(4.0, 0.9 * len(benchmarks) + 2), 3.8))
    axis = figure.subplots()
    for x, benchmark in enumerate(benchmarks):
        scores = comparison.scores[benchmark]
        if baseline in scores:
            axis.bar(x, scores[baseline].score, width=0.6, color='0.75', label=baseline if x == 0 else None)
        values = [scores[m].score for m in others if m in scores]
        axis.plot(np.full(len(values), x) + np.linspace(-0.15, 0.15, len(values)), values, 'o', ms=4,
                  color='tab:orange', label=', '.join(others) if len(others) < 3 else f'{len(others)} other models')
        if comparison.p_values.get(benchmark, 1) < ALPHA:
            axis.text(x, max([scores[baseline].score] + values) * 1.04, '*', ha='center', fontsize=14)
    handles, labels = axis.get_legend_handles_labels()
    unique = dict(zip(labels, handles))
    axis.legend(unique.values(), unique.keys(), fontsize=7, frameon=False)
    axis.set_ylim(top=axis.get_ylim()[1] * 1.1)
    many = len(benchmarks) > 8
    axis.set_xticks(range(len(benchmarks)), [comparison.labels[b] for b in benchmarks], rotation=30 if many else 0,
                    ha='right' if many else 'center', fontsize=8)
    axis.set_ylabel(ylabel)
    axis.set_title(f'{title} (* p < .05 vs {baseline})', fontsize=9)
    save_figure(figure, out)


def draw_roi_scores(comparison: ScoreComparison, out) -> None:
    """Shen 2019 ROI scores (ReAlnet's Figure 1C): see ``draw_scores``."""
    draw_scores(comparison, out, ylabel='similarity to fMRI (ceiling-normalised)', title='model–fMRI RSA per ROI')


def draw_comparison(comparison: TimeCourseComparison | ScoreComparison, out) -> None:
    """The figure of `brainscore report`: time courses, or scores per ROI."""
    if isinstance(comparison, TimeCourseComparison):
        draw_time_courses(comparison, out)
    else:
        draw_roi_scores(comparison, out)


def draw_matched_subjects(rows: list[dict], out) -> None:
    """One panel per region: for each personal model, its window-mean similarity to its own
    subject minus that to the other subjects, beside the same difference for the baseline (which
    shows how much of it is that subject's data rather than the alignment)."""
    regions = list(dict.fromkeys(row['region'] for row in rows))
    figure = Figure(figsize=(max(3.2, 0.5 * len(rows) / len(regions) + 2) * len(regions), 3.4))
    axes = figure.subplots(1, len(regions), sharey=True, squeeze=False)[0]
    for axis, region in zip(axes, regions):
        chosen = [row for row in rows if row['region'] == region]
        x = np.arange(len(chosen))
        axis.bar(x - 0.18, [r['own'] - r['others'] for r in chosen], width=0.36, color='tab:orange',
                 label='model: own subject − others')
        axis.bar(x + 0.18, [r['baseline_own'] - r['baseline_others'] for r in chosen], width=0.36, color='0.7',
                 label='baseline: same subject − others')
        axis.axhline(0, color='k', lw=0.6)
        axis.set_xticks(x, [r['model'] for r in chosen], rotation=45, ha='right', fontsize=7)
        axis.set_title(f'{region}: matched subject', fontsize=9)
    axes[0].set_ylabel('Δ Spearman ρ (window mean)')
    axes[0].legend(fontsize=7, frameon=False)
    save_figure(figure, out)
