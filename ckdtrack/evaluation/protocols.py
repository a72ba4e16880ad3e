"""The published evaluation protocol of each benchmark, as data.

Each benchmark differs from the others in a handful of switches (which ground truth, which
threshold, whether frame 1 is replaced, how scores are averaged); :class:`Protocol` names
them so the scoring code in :mod:`ckdtrack.evaluation.scoring` has a single path.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from . import metrics

BENCHMARK_NAMES = ("lasher", "rgbt234", "rgbt210", "gtot", "vtuav-st", "vtuav-lt")


@dataclass(frozen=True)
class Protocol:
    """How one benchmark turns result boxes into scores.

    ``dual_truth``: per frame, the better of the visible and the infrared ground truth
    (MPR / MSR) instead of the single reference boxes (PR / SR).
    ``replace_first_frame``: frame 1 is the initialisation, scored as the ground truth.
    ``lasher_validity``: LasHeR's rules for unusable boxes (result boxes with w or h <= 0 take
    the previous box; ground-truth frames with any value <= 0 pass PR/NPR and fail SR).
    ``pooled``: frames of all sequences pooled (GTOT) instead of a mean of sequence scores.
    ``strict_precision``: a frame counts as precise when its error is ``< t``, not ``<= t``.
    ``success_by_area``: the success score is the trapezoid area under the success curve
    (GTOT) rather than the mean over its thresholds.
    ``corner_extent``: added to widths and heights when 8-value corner results are
    converted, 1 where the toolkit treats corners as inclusive pixel indices.
    """

    benchmark: str
    title: str
    dual_truth: bool
    replace_first_frame: bool = False
    lasher_validity: bool = False
    pooled: bool = False
    strict_precision: bool = False
    success_by_area: bool = False
    normalized_precision: bool = False
    precision_threshold: float = 20.0
    precision_axis_max: float = 50.0
    corner_extent: float = 0.0

    @property
    def precision_name(self) -> str:
        return "MPR" if self.dual_truth else "PR"

    @property
    def success_name(self) -> str:
        return "MSR" if self.dual_truth else "SR"

    @property
    def metric_names(self) -> tuple[str, ...]:
        if self.normalized_precision:
            return (self.precision_name, "NPR", self.success_name)
        return (self.precision_name, self.success_name)

    @property
    def main_metric(self) -> str:
        """The score trackers are ranked by: the success (overlap) score."""
        return self.success_name

    def axis(self, metric: str) -> np.ndarray:
        """Thresholds of a metric's curve, in its own unit (pixels, normalised, IoU)."""
        if metric == "NPR":
            return metrics.NORMALIZED_PRECISION_AXIS
        if metric == self.success_name:
            return metrics.SUCCESS_AXIS
        return np.linspace(0, self.precision_axis_max, 51)

    def representative_threshold(self, metric: str) -> float | None:
        """The threshold a precision score is read at; None for area-type success scores."""
        if metric == "NPR":
            return 0.2
        if metric == self.precision_name:
            return self.precision_threshold
        return None


PROTOCOLS = {
    "lasher": Protocol(
        "lasher", "LasHeR", dual_truth=False, replace_first_frame=True, lasher_validity=True,
        normalized_precision=True, corner_extent=1.0,
    ),
    "rgbt234": Protocol("rgbt234", "RGBT234", dual_truth=True),
    "rgbt210": Protocol("rgbt210", "RGBT210", dual_truth=False, replace_first_frame=True),
    "gtot": Protocol(
        "gtot", "GTOT", dual_truth=True, pooled=True, strict_precision=True, success_by_area=True,
        precision_threshold=5.0, precision_axis_max=25.0,
    ),
    "vtuav-st": Protocol("vtuav-st", "VTUAV short-term", dual_truth=True),
    "vtuav-lt": Protocol("vtuav-lt", "VTUAV long-term", dual_truth=True),
}


def get_protocol(benchmark: str) -> Protocol:
    try:
        return PROTOCOLS[benchmark.lower()]
    except KeyError:
        raise InputError(
            f"unknown benchmark {benchmark!r} (choose from {', '.join(BENCHMARK_NAMES)})"
        ) from None
