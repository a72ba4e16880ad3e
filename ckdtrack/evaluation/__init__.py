"""Evaluation toolkit: published RGB-T benchmark protocols, strict result parsing, reports.

``evaluate(benchmark, results_dirs, ...)`` returns the JSON-ready report;
``evaluate_trackers`` keeps the curves as well, for tables and plots. The benchmarks and
their protocols are declared in :mod:`ckdtrack.benchmark_registry`.
"""

from .report import evaluate, report_dict
from .scoring import Evaluation, TrackerEvaluation, evaluate_trackers

__all__ = [
    "Evaluation",
    "TrackerEvaluation",
    "evaluate",
    "evaluate_trackers",
    "report_dict",
]
