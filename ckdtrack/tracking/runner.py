"""Running a tracker over a whole sequence: boxes, scores, timing, optional video."""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ..boxes import validate_box
from ..errors import InputError
from ..io import atomic_write_text
from .frames import FrameSource
from .tracker import CKDTracker
from .visualize import PairVideoWriter, draw_pair


@dataclass
class TrackingRun:
    """Per-frame boxes (N, 4 ``xywh``; row 0 is the init box) and scores, with timings."""

    name: str
    boxes: np.ndarray
    scores: np.ndarray
    forward_seconds: float
    total_seconds: float

    @property
    def tracked_frames(self) -> int:
        return max(len(self.boxes) - 1, 0)

    @property
    def fps_model(self) -> float:
        return self.tracked_frames / self.forward_seconds if self.forward_seconds else float("nan")

    @property
    def fps_end_to_end(self) -> float:
        return len(self.boxes) / self.total_seconds if self.total_seconds else float("nan")


def run_tracker(tracker: CKDTracker, source: FrameSource, init_box=None, video: str | Path | None = None,
                progress: bool = True) -> TrackingRun:
    """Track ``source`` from ``init_box`` (or the source's first box); time decode + tracking."""
    box = init_box if init_box is not None else source.first_box
    if box is None:
        raise InputError(f"{source.name}: no init box (give --init X,Y,W,H or an init.txt)")
    box = validate_box(box, what=f"{source.name}: init box")
    boxes, scores = [], []
    forward_seconds = 0.0
    started = time.perf_counter()
    bar = tqdm(total=source.length or None, desc=source.name, unit="frame", disable=not progress, leave=False)
    with bar, (PairVideoWriter(video) if video is not None else nullcontext()) as writer:
        for index, (rgb, tir) in enumerate(source.pairs):
            if index == 0:
                tracker.init(rgb, tir, box)
                boxes.append(list(tracker.state))
                scores.append(1.0)
            else:
                result = tracker.update(rgb, tir)
                forward_seconds += tracker.last_forward_seconds
                boxes.append(result.box)
                scores.append(result.score)
            if writer is not None:
                writer.write(draw_pair(rgb, tir, boxes[-1], scores[-1] if index else None, f"#{index + 1}"))
            bar.update()
    if not boxes:
        raise InputError(f"{source.name}: no frames")
    total = time.perf_counter() - started
    return TrackingRun(source.name, np.asarray(boxes, dtype=np.float64), np.asarray(scores), forward_seconds, total)


def format_boxes(boxes: np.ndarray, integer: bool = False) -> str:
    """One ``x,y,w,h`` line per frame: floats with 2 decimals, or truncated integers."""
    if integer:
        return "".join(",".join(str(int(v)) for v in row) + "\n" for row in boxes)
    return "".join(",".join(f"{v:.2f}" for v in row) + "\n" for row in boxes)


def write_boxes(path: str | Path, boxes: np.ndarray, integer: bool = False) -> None:
    atomic_write_text(path, format_boxes(boxes, integer))
