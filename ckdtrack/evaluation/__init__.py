"""Evaluation toolkit: published RGB-T benchmark protocols, strict result parsing, reports.

``evaluate(benchmark, results_dirs, ...)`` returns the JSON-ready report;
``evaluate_trackers`` keeps the curves as well, for tables and plots.
"""

from .protocols import BENCHMARK_NAMES, PROTOCOLS, Protocol, get_protocol
from .report import evaluate, report_dict
from .scoring import Evaluation, TrackerEvaluation, evaluate_trackers

__all__ = [
    "BENCHMARK_NAMES",
    "PROTOCOLS",
    "Evaluation",
    "Protocol",
    "TrackerEvaluation",
    "evaluate",
    "evaluate_trackers",
    "get_protocol",
    "report_dict",
]
