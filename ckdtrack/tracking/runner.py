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
from .frames import FrameSource, prefetched
from .tracker import TIMED_STEPS, CKDTracker
from .visualize import PairVideoWriter, draw_pair


@dataclass
class TrackingRun:
    """Per-frame boxes (N, 4 ``xywh``; row 0 is the init box) and scores, with timings.

    ``frame_seconds`` (N,) is each frame's decode plus ``init``/``update`` time (drawing and
    video writing excluded); ``step_seconds`` sums the tracked frames' time per step
    (``decode`` and the tracker's timed steps); ``total_seconds`` is the wall time of the whole run.
    """

    name: str
    boxes: np.ndarray
    scores: np.ndarray
    frame_seconds: np.ndarray
    step_seconds: dict[str, float]
    total_seconds: float

    @property
    def tracked_frames(self) -> int:
        return max(len(self.boxes) - 1, 0)

    @property
    def tracking_seconds(self) -> float:
        """Time spent on the tracked frames (the init frame excluded)."""
        return float(self.frame_seconds[1:].sum())

    @property
    def fps_model(self) -> float:
        forward = self.step_seconds["forward"]
        return self.tracked_frames / forward if forward else float("nan")

    @property
    def fps_end_to_end(self) -> float:
        """Tracked frames per second of decode + crop + normalise + forward + box decoding."""
        return self.tracked_frames / self.tracking_seconds if self.tracking_seconds else float("nan")


def timed(items):
    """Yield ``(item, seconds it took to produce)``: how long decoding each frame pair took."""
    iterator = iter(items)
    while True:
        started = time.perf_counter()
        try:
            item = next(iterator)
        except StopIteration:
            return
        yield item, time.perf_counter() - started


def run_tracker(tracker: CKDTracker, source: FrameSource, init_box=None, video: str | Path | None = None,
                progress: bool = True, prefetch: bool = True) -> TrackingRun:
    """Track ``source`` from ``init_box`` (or the source's first box), timing every step.

    With ``prefetch`` the next frame pair is decoded in a background thread while the network
    runs, and the ``decode`` step is the time spent waiting for it.
    """
    box = init_box if init_box is not None else source.first_box
    if box is None:
        raise InputError(f"{source.name}: no init box (give --init X,Y,W,H or an init.txt)")
    box = validate_box(box, what=f"{source.name}: init box")
    boxes, scores, frame_seconds = [], [], []
    step_seconds = dict.fromkeys(("decode",) + TIMED_STEPS, 0.0)
    started = time.perf_counter()
    bar = tqdm(total=source.length or None, desc=source.name, unit="frame", disable=not progress, leave=False)
    with bar, (PairVideoWriter(video) if video is not None else nullcontext()) as writer:
        for index, ((rgb, tir), decode_seconds) in enumerate(timed(prefetched(source.pairs) if prefetch else source.pairs)):
            tracking_started = time.perf_counter()
            try:
                result = tracker.update(rgb, tir) if index else tracker.init(rgb, tir, box)
            except InputError as exc:
                raise InputError(f"{source.where(index)}: {exc}") from None
            if index == 0:
                boxes.append(list(tracker.state))
                scores.append(1.0)
            else:
                boxes.append(result.box)
                scores.append(result.score)
                step_seconds["decode"] += decode_seconds
                for step, seconds in tracker.last_step_seconds.items():
                    step_seconds[step] += seconds
            frame_seconds.append(decode_seconds + time.perf_counter() - tracking_started)
            if writer is not None:
                writer.write(draw_pair(rgb, tir, boxes[-1], scores[-1] if index else None, f"#{index + 1}"))
            bar.update()
    if not boxes:
        raise InputError(f"{source.name}: no frames")
    total = time.perf_counter() - started
    return TrackingRun(source.name, np.asarray(boxes, dtype=np.float64), np.asarray(scores),
                       np.asarray(frame_seconds), step_seconds, total)


def format_boxes(boxes: np.ndarray, integer: bool = False) -> str:
    """One ``x,y,w,h`` line per frame: floats with 2 decimals, or truncated integers."""
    if integer:
        return "".join(",".join(str(int(v)) for v in row) + "\n" for row in boxes)
    return "".join(",".join(f"{v:.2f}" for v in row) + "\n" for row in boxes)


def write_boxes(path: str | Path, boxes: np.ndarray, integer: bool = False) -> None:
    atomic_write_text(path, format_boxes(boxes, integer))
