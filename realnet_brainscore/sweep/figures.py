"""Drawing only, of what report.py computed: the scores against each varied setting, and the transfer
matrix of personal models x subjects. On ``matplotlib.figure.Figure`` (no pyplot), as figures.py."""
import numpy as np
from matplotlib.figure import Figure

from ..figures import save_figure


def draw_scores_by_setting(found: dict, out) -> None:
    """One panel per varied setting: each benchmark's cells as dots at their value, their mean as a line."""
    figure = Figure(figsize=(4.2 * len(found), 3.4))
    axes = figure.subplots(1, len(found), sharey=True, squeeze=False)[0]
    for axis, (setting, benchmarks) in zip(axes, found.items()):
        for benchmark, per_value in benchmarks.items():
            labels = list(per_value)
            means = [np.mean(scores) if scores else np.nan for scores in per_value.values()]
            line, = axis.plot(range(len(labels)), means, marker='o', label=benchmark)
            for index, scores in enumerate(per_value.values()):
                axis.scatter([index] * len(scores), scores, color=line.get_color(), alpha=0.4, s=12)
            axis.set_xticks(range(len(labels)), labels, rotation=30, ha='right')
        axis.set_xlabel(setting)
    axes[0].set_ylabel('score')
    axes[-1].legend(fontsize=7)
    save_figure(figure, out)


def draw_transfer(matrices: dict, out) -> None:
    """One heat map per benchmark: rows the cells' personal models, columns the subjects scored on;
    each model's own subject outlined."""
    figure = Figure(figsize=(1.2 + 0.9 * max(len(m['subjects']) for m in matrices.values()) * len(matrices),
                             1.5 + 0.35 * max(len(m['rows']) for m in matrices.values())))
    axes = figure.subplots(1, len(matrices), squeeze=False)[0]
    for axis, (benchmark, matrix) in zip(axes, matrices.items()):
        values = np.array([[np.nan if s is None else s for s in row['scores']] for row in matrix['rows']], float)
        image = axis.imshow(values, cmap='viridis', aspect='auto')
        axis.set_xticks(range(len(matrix['subjects'])), matrix['subjects'], rotation=45, ha='right')
        axis.set_yticks(range(len(matrix['rows'])), [row['cell'][:40] for row in matrix['rows']], fontsize=6)
        for y, row in enumerate(matrix['rows']):
            if row['subject'] in matrix['subjects']:
                x = matrix['subjects'].index(row['subject'])
                axis.add_patch(_outline(x, y))
        axis.set_title(benchmark, fontsize=8)
        axis.set_xlabel('scored on')
        figure.colorbar(image, ax=axis, shrink=0.8)
    save_figure(figure, out)


def _outline(x: int, y: int):
    from matplotlib.patches import Rectangle
    return Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, edgecolor='white', linewidth=1.5)
