"""Where frame pairs come from: a sequence folder or two video files."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..data.sequence import RGBTSequence, as_rgb
from ..errors import InputError

FramePair = tuple[np.ndarray, np.ndarray]


@dataclass
class FrameSource:
    """A named stream of (visible, thermal) frame pairs with a known length; ``describe(i)``
    names where pair ``i`` comes from, for error messages."""

    name: str
    length: int
    pairs: Iterator[FramePair]
    first_box: list[float] | None = None
    describe: Callable[[int], str] | None = None

    def where(self, index: int) -> str:
        return self.describe(index) if self.describe is not None else f"{self.name} frame {index + 1}"


def sequence_source(sequence: RGBTSequence) -> FrameSource:
    pairs = (sequence.frame_pair(i) for i in range(len(sequence)))
    first_box = None
    if sequence.init_box is not None:
        first_box = [float(v) for v in sequence.init_box]
    elif sequence.boxes is not None and len(sequence.boxes):
        first_box = [float(v) for v in sequence.boxes[0]]
    return FrameSource(sequence.name, len(sequence), pairs, first_box,
                       lambda i: f"{sequence.visible_frames[i]} + {Path(sequence.thermal_frames[i]).name}")


def _open_video(path: Path) -> tuple[cv2.VideoCapture, int]:
    if not path.is_file():
        raise InputError(f"{path}: video file not found")
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        raise InputError(f"{path}: cannot open video (unsupported or corrupt file)")
    return capture, int(capture.get(cv2.CAP_PROP_FRAME_COUNT))


def _video_pairs(visible: Path, thermal: Path, captures) -> Iterator[FramePair]:
    index = 0
    try:
        while True:
            ok_v, frame_v = captures[0].read()
            ok_t, frame_t = captures[1].read()
            if not ok_v and not ok_t:
                return
            if ok_v != ok_t:
                shorter = thermal if ok_v else visible
                raise InputError(f"{shorter}: video ends after {index} frames, before the other modality")
            index += 1
            yield as_rgb(frame_v, str(visible), bgr=True), as_rgb(frame_t, str(thermal), bgr=True)
    finally:
        for capture in captures:
            capture.release()


def video_source(visible: str | Path, thermal: str | Path) -> FrameSource:
    """Pairs from two registered video files, read in lock-step."""
    visible, thermal = Path(visible), Path(thermal)
    capture_v, count_v = _open_video(visible)
    capture_t, count_t = _open_video(thermal)
    if count_v > 0 and count_t > 0 and count_v != count_t:
        capture_v.release()
        capture_t.release()
        raise InputError(f"{visible} has {count_v} frames but {thermal} has {count_t}")
    name = visible.stem
    return FrameSource(name, max(count_v, count_t), _video_pairs(visible, thermal, (capture_v, capture_t)),
                       describe=lambda i: f"{visible} + {thermal.name}, frame {i + 1}")


def prefetched(items: Iterable, depth: int = 2) -> Iterator:
    """Produce ``items`` in a background thread, up to ``depth`` ahead, in order.

    Frame decoding (OpenCV releases the GIL) then overlaps the network forward of the previous
    frame. An exception raised while producing is re-raised here, at the item it replaced;
    closing this generator early stops the thread and closes ``items``.
    """
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        iterator = iter(items)
        try:
            for item in iterator:
                if not put(("item", item)):
                    return
            put(("end", None))
        except BaseException as exc:  # handed to the consumer, which re-raises it
            put(("error", exc))
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                close()

    thread = threading.Thread(target=produce, name="frame-prefetch", daemon=True)
    thread.start()
    try:
        while True:
            kind, value = buffer.get()
            if kind == "end":
                return
            if kind == "error":
                raise value
            yield value
    finally:
        stop.set()
        thread.join()
