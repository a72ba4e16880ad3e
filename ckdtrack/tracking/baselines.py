"""Classical baselines a learned tracker has to beat, with the same tracker API as
:class:`~ckdtrack.tracking.CKDTracker` (``init(rgb, tir, box)``, ``update(rgb, tir)`` -> box):

- ``ncc``: normalised cross-correlation of the first frame's thermal patch over the whole
  thermal frame (OpenCV ``matchTemplate``, ``TM_CCOEFF_NORMED``), box size fixed;
- ``mil``: OpenCV's MIL tracker on the thermal frames, the one tracker opencv-python-headless
  ships that needs no downloaded model file; a failed update keeps the last box;
- the static box (:func:`static_box_results`): the first box, repeated.

They need no torch, so they run wherever the package is installed.
"""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np

from ..data.benchmarks import open_benchmark
from ..io import atomic_write_text
from .runner import format_boxes


def _grey(frame: np.ndarray) -> np.ndarray:
    return cv2.cvtColor(frame, cv2.COLOR_RGB2GRAY)


class NCCTracker:
    """Whole-frame thermal template matching with the first frame's patch."""

    def init(self, rgb: np.ndarray, tir: np.ndarray, box) -> None:
        x, y, w, h = (int(round(v)) for v in box)
        self.template = _grey(tir)[y:y + h, x:x + w]
        self.size = (w, h)

    def update(self, rgb: np.ndarray, tir: np.ndarray) -> list[float]:
        response = cv2.matchTemplate(_grey(tir), self.template, cv2.TM_CCOEFF_NORMED)
        _, _, _, (x, y) = cv2.minMaxLoc(response)
        return [x, y, *self.size]


class MILTracker:
    """OpenCV's MIL tracker on the thermal frames (BGR, as OpenCV expects).

    MIL draws its samples from a random generator inside OpenCV that no call resets and that
    every MIL tracker of the process advances, so its boxes depend on the MIL trackers run
    before it; a fresh process that runs the same sequences in the same order repeats them."""

    def init(self, rgb: np.ndarray, tir: np.ndarray, box) -> None:
        self.box = [int(round(v)) for v in box]
        self.tracker = cv2.TrackerMIL_create()
        self.tracker.init(np.ascontiguousarray(tir[:, :, ::-1]), tuple(self.box))

    def update(self, rgb: np.ndarray, tir: np.ndarray) -> list[float]:
        found, box = self.tracker.update(np.ascontiguousarray(tir[:, :, ::-1]))
        if found:
            self.box = list(box)
        return list(self.box)


BASELINES = {"ncc": NCCTracker, "mil": MILTracker}


def baseline_results(name: str, data: Path, out: Path) -> float:
    """Track every sequence of a LasHeR-layout test set ``data`` with baseline ``name``, from its
    first box, into ``out/<sequence>.txt``; returns the frames per second, decode included."""
    out.mkdir(parents=True, exist_ok=True)
    frames, seconds = 0, 0.0
    for sequence in open_benchmark("lasher", data, split="test"):
        started = time.perf_counter()
        tracker = BASELINES[name]()
        tracker.init(*sequence.frame_pair(0), sequence.boxes[0])
        boxes = [list(sequence.boxes[0])] + [tracker.update(*sequence.frame_pair(i)) for i in range(1, len(sequence))]
        seconds += time.perf_counter() - started
        frames += len(sequence) - 1
        atomic_write_text(out / f"{sequence.name}.txt", format_boxes(np.asarray(boxes, dtype=np.float64)))
    return frames / seconds if seconds else float("nan")


def static_box_results(data: Path, out: Path) -> None:
    """The static box of every sequence of ``data``: the baseline every tracker must beat by a
    wide margin. Written from the annotations alone (no frame is read)."""
    out.mkdir(parents=True, exist_ok=True)
    for sequence in open_benchmark("lasher", data, split="test", annotations_only=True):
        boxes = np.repeat(sequence.boxes[:1], len(sequence.boxes), axis=0)
        atomic_write_text(out / f"{sequence.name}.txt", format_boxes(boxes))
