"""Paper-style figures: one curve plot per metric and one attribute radar chart per metric.

matplotlib is optional (``pip install 'ckdtrack[plots]'``); it is imported here only, and
figures are drawn on their own Agg canvas, so no global pyplot state is touched.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import InputError
from ..io import atomic_path
from .metrics import threshold_axis
from .report import ranked
from .scoring import Evaluation

FORMATS = ("png", "pdf")
_AXIS_LABELS = {
    "precision": ("Location error threshold (pixels)", "Precision"),
    "NPR": ("Normalized location error threshold", "Normalized precision"),
    "success": ("Overlap threshold", "Success rate"),
}


def require_matplotlib():
    """matplotlib's Figure and Agg canvas; without matplotlib a one-line InputError."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise InputError("plots need matplotlib: pip install 'ckdtrack[plots]'") from None
    return Figure, FigureCanvasAgg


def can_plot() -> bool:
    """Whether matplotlib is installed: where plots are an extra (the demo's), they are skipped
    without it; an explicit request (``ckdtrack eval --plots``) fails instead."""
    try:
        require_matplotlib()
    except InputError:
        return False
    return True


def _new_figure(**subplot_options):
    Figure, FigureCanvasAgg = require_matplotlib()
    figure = Figure(figsize=(6, 5), dpi=150)
    FigureCanvasAgg(figure)
    return figure, figure.add_subplot(**subplot_options)


def _save(figure, folder: Path, stem: str) -> list[Path]:
    paths = []
    for fmt in FORMATS:
        path = folder / f"{stem}.{fmt}"
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format=fmt, bbox_inches="tight")
        paths.append(path)
    return paths


def _axis_labels(evaluation: Evaluation, metric: str) -> tuple[str, str]:
    protocol = evaluation.protocol
    if metric == protocol.success_name:
        return _AXIS_LABELS["success"]
    return _AXIS_LABELS["NPR" if metric == "NPR" else "precision"]


def plot_curves(evaluation: Evaluation, metric: str, folder: Path) -> list[Path]:
    """All trackers' curves of one metric, legend ``name [score]`` best first."""
    protocol = evaluation.protocol
    figure, axes = _new_figure()
    axis = threshold_axis(protocol, metric)
    for tracker in sorted(evaluation.trackers, key=lambda t: -t.scores[metric]):
        axes.plot(axis, tracker.curves[metric], linewidth=2, label=f"{tracker.name} [{tracker.scores[metric]:.1f}]")
    x_label, y_label = _axis_labels(evaluation, metric)
    axes.set(xlabel=x_label, ylabel=y_label, xlim=(axis[0], axis[-1]), ylim=(0, 1))
    axes.set_title(f"{metric} plots of OPE on {evaluation.dataset_label}")
    axes.grid(True, linestyle=":")
    axes.legend(loc="lower left" if metric == protocol.success_name else "lower right", fontsize="small")
    return _save(figure, folder, f"{evaluation.benchmark.name}_{metric}_curves")


def plot_radar(evaluation: Evaluation, metric: str, folder: Path) -> list[Path]:
    """One polygon per tracker over the attributes, with the best score per attribute labelled."""
    attributes = list(evaluation.trackers[0].attributes)
    figure, axes = _new_figure(projection="polar")
    angles = np.linspace(0, 2 * np.pi, len(attributes), endpoint=False)
    closed = np.append(angles, angles[0])
    best = {attr: max(t.attributes[attr][metric] for t in evaluation.trackers) for attr in attributes}
    for tracker in ranked(evaluation):
        values = [tracker.attributes[attr][metric] for attr in attributes]
        axes.plot(closed, values + values[:1], linewidth=1.5, label=f"{tracker.name} [{tracker.scores[metric]:.1f}]")
    axes.set_xticks(angles, [f"{attr}\n({best[attr]:.1f})" for attr in attributes], fontsize="small")
    axes.set_yticklabels([])
    axes.set_title(f"{metric} per attribute on {evaluation.dataset_label}", pad=20)
    axes.legend(loc="upper right", bbox_to_anchor=(1.35, 1.1), fontsize="small")
    return _save(figure, folder, f"{evaluation.benchmark.name}_{metric}_radar")


def write_plots(evaluation: Evaluation, folder: str | Path) -> list[Path]:
    """Curve plots for every metric and, where the benchmark has attributes, radar charts.
    Without matplotlib: an InputError before the folder is made."""
    require_matplotlib()
    folder = Path(folder)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{folder}: cannot create the plots folder ({exc.strerror})") from None
    paths = []
    for metric in evaluation.protocol.metric_names:
        paths += plot_curves(evaluation, metric, folder)
    has_attributes = len(evaluation.trackers[0].attributes) >= 3
    for metric in evaluation.protocol.metric_names if has_attributes else ():
        paths += plot_radar(evaluation, metric, folder)
    return paths
