"""Side-by-side RGB | thermal videos with the tracked box drawn on both halves."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from ..errors import InputError

BOX_COLOR = (0, 255, 0)
SCORE_COLOR = (255, 255, 0)


def draw_pair(rgb: np.ndarray, tir: np.ndarray, box, score: float | None = None, label: str = "") -> np.ndarray:
    """One RGB frame: visible and thermal side by side, the box on both, score in the corner."""
    halves = []
    x, y, w, h = (int(round(v)) for v in box)
    for image in (rgb, tir):
        image = np.ascontiguousarray(image.copy())
        cv2.rectangle(image, (x, y), (x + w, y + h), BOX_COLOR, 2)
        halves.append(image)
    canvas = np.concatenate(halves, axis=1)
    text = " ".join(part for part in (label, "" if score is None else f"score {score:.2f}") if part)
    if text:
        cv2.putText(canvas, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(canvas, text, (6, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.5, SCORE_COLOR, 1, cv2.LINE_AA)
    return canvas


class PairVideoWriter:
    """Writes an MP4 of side-by-side frames; the file appears only once it is complete."""

    def __init__(self, path: str | Path, fps: float = 20.0):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.partial = self.path.with_name(f".{self.path.stem}.partial{self.path.suffix or '.mp4'}")
        self.fps = fps
        self.writer: cv2.VideoWriter | None = None

    def write(self, canvas: np.ndarray) -> None:
        if self.writer is None:
            height, width = canvas.shape[:2]
            self.writer = cv2.VideoWriter(str(self.partial), cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (width, height))
            if not self.writer.isOpened():
                raise InputError(f"{self.path}: cannot open an MP4 writer here")
        self.writer.write(cv2.cvtColor(canvas, cv2.COLOR_RGB2BGR))

    def close(self) -> None:
        if self.writer is not None:
            self.writer.release()
            self.partial.replace(self.path)
            self.writer = None

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *_):
        if exc_type is None:
            self.close()
        elif self.writer is not None:
            self.writer.release()
            self.partial.unlink(missing_ok=True)
