"""The report: JSON-ready dict, text / Markdown / CSV tables, and atomic file writes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from ..errors import InputError
from ..io import atomic_write_text
from .scoring import Evaluation, evaluate_trackers


def evaluate(benchmark: str, results_dirs, **options) -> dict:
    """Score result folders on a benchmark; the JSON report (see :func:`report_dict`).

    ``options`` are those of :func:`ckdtrack.evaluation.evaluate_trackers`.
    """
    return report_dict(evaluate_trackers(benchmark, results_dirs, **options))


def report_dict(evaluation: Evaluation) -> dict:
    """``{"benchmark", "trackers": {name: {metric: percent, "attributes", "warnings"}}}``."""
    return {
        "benchmark": evaluation.benchmark.name,
        "trackers": {
            tracker.name: {
                **tracker.scores,
                "attributes": tracker.attributes,
                "warnings": list(tracker.warnings),
            }
            for tracker in evaluation.trackers
        },
    }


def ranked(evaluation: Evaluation):
    """Trackers best first by the benchmark's main score."""
    main = evaluation.protocol.main_metric
    return sorted(evaluation.trackers, key=lambda tracker: -tracker.scores[main])


def table_rows(evaluation: Evaluation) -> tuple[list[str], list[list[str]]]:
    metric_names = list(evaluation.protocol.metric_names)
    rows = [[tracker.name] + [f"{tracker.scores[m]:.1f}" for m in metric_names] for tracker in ranked(evaluation)]
    return ["Tracker"] + metric_names, rows


def format_table(evaluation: Evaluation, markdown: bool = False) -> str:
    """Aligned plain-text table, or a Markdown table, one row per tracker, best first."""
    header, rows = table_rows(evaluation)
    if markdown:
        lines = [header, ["---"] + ["---:"] * (len(header) - 1)] + rows
        return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)
    widths = [max(len(row[i]) for row in [header] + rows) for i in range(len(header))]
    title = f"{evaluation.dataset_label} ({len(evaluation.sequence_names)} sequences)"
    lines = [title]
    for cells in [header] + rows:
        lines.append("  ".join(cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(cells)))
    return "\n".join(lines)


def format_csv(evaluation: Evaluation) -> str:
    """CSV with unrounded percentages, one row per tracker, best first."""
    metric_names = list(evaluation.protocol.metric_names)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["tracker"] + metric_names)
    for tracker in ranked(evaluation):
        writer.writerow([tracker.name] + [repr(tracker.scores[m]) for m in metric_names])
    return buffer.getvalue()


def write_text(path: str | Path, text: str):
    path = Path(path)
    if not path.parent.is_dir():
        raise InputError(f"{path}: folder {path.parent} does not exist")
    atomic_write_text(path, text)


def write_json(path: str | Path, report: dict):
    write_text(path, json.dumps(report, indent=2) + "\n")
