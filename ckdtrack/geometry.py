"""Crop geometry shared by the online tracker and the training pipeline.

A crop is a square window centred on a box, with side ``ceil(sqrt(w*h) * factor)`` pixels,
zero-padded where it leaves the image and resized to ``output_size`` with bilinear
interpolation. This reproduces the published tracker exactly, including two of its details:
the window's corner is placed with Python's round-half-to-even, and a window that crosses the
right or bottom image border is padded one pixel further than needed (the last image
row/column inside the window is replaced by zeros).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .errors import InputError


@dataclass(frozen=True)
class CropWindow:
    """Where a square crop of side ``size`` (pixels) starts in the image."""

    x1: int
    y1: int
    size: int

    @classmethod
    def around(cls, box, factor: float) -> "CropWindow":
        x, y, w, h = (float(v) for v in box)
        size = math.ceil(math.sqrt(w * h) * factor)
        if not size >= 1:
            raise InputError(f"box {[x, y, w, h]} is too small to crop around")
        x1 = round(x + 0.5 * w - size * 0.5)
        y1 = round(y + 0.5 * h - size * 0.5)
        return cls(x1, y1, size)


def crop_window(image: np.ndarray, window: CropWindow, output_size: int) -> np.ndarray:
    """Cut ``window`` out of an HxWxC image (zeros outside) and resize it to a square."""
    height, width = image.shape[:2]
    x1, y1 = window.x1, window.y1
    x2, y2 = x1 + window.size, y1 + window.size
    pad_left, pad_top = max(0, -x1), max(0, -y1)
    pad_right, pad_bottom = max(x2 - width + 1, 0), max(y2 - height + 1, 0)
    inside = image[y1 + pad_top:y2 - pad_bottom, x1 + pad_left:x2 - pad_right]
    if inside.size == 0:
        patch = np.zeros((window.size, window.size) + image.shape[2:], dtype=image.dtype)
    else:
        patch = cv2.copyMakeBorder(inside, pad_top, pad_bottom, pad_left, pad_right, cv2.BORDER_CONSTANT)
    return cv2.resize(patch, (output_size, output_size), interpolation=cv2.INTER_LINEAR)


def sample_crop(image: np.ndarray, box, factor: float, output_size: int) -> tuple[np.ndarray, float]:
    """Crop ``factor`` times the box's side around it; returns the patch and its scale."""
    window = CropWindow.around(box, factor)
    return crop_window(image, window, output_size), output_size / window.size


def box_to_crop(box, crop_center_box, resize_factor: float, output_size: int, normalize: bool = False) -> np.ndarray:
    """Express an image ``xywh`` box in the coordinates of a crop centred on ``crop_center_box``."""
    box = np.asarray(box, dtype=np.float64)
    ref = np.asarray(crop_center_box, dtype=np.float64)
    center = (output_size - 1) / 2 + (box[:2] + 0.5 * box[2:] - (ref[:2] + 0.5 * ref[2:])) * resize_factor
    size = box[2:] * resize_factor
    out = np.concatenate([center - 0.5 * size, size])
    return out / output_size if normalize else out


def box_from_crop(pred_cxcywh, prev_box, resize_factor: float, output_size: int) -> list[float]:
    """Map a predicted (cx, cy, w, h) in crop pixels back to an image ``xywh`` box.

    The crop is taken to be centred on the previous box's centre, as the tracker assumes.
    """
    cx, cy, w, h = (float(v) / resize_factor for v in pred_cxcywh)
    px, py, pw, ph = prev_box
    half_side = 0.5 * output_size / resize_factor
    cx += px + 0.5 * pw - half_side
    cy += py + 0.5 * ph - half_side
    return [cx - 0.5 * w, cy - 0.5 * h, w, h]


def clip_box(box, image_size: tuple[int, int], margin: float = 0.0) -> list[float]:
    """Clip an ``xywh`` box to an image of ``image_size`` = (width, height), keeping at least
    ``margin`` pixels of it inside."""
    width, height = image_size
    x1, y1, w, h = box
    x2, y2 = x1 + w, y1 + h
    x1 = min(max(0.0, x1), width - margin)
    x2 = min(max(margin, x2), width)
    y1 = min(max(0.0, y1), height - margin)
    y2 = min(max(margin, y2), height)
    return [x1, y1, max(margin, x2 - x1), max(margin, y2 - y1)]
