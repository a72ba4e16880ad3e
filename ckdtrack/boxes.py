"""Box formats and annotation text files, shared by the tracker, training, readers and evaluator.

Formats (all in pixels unless said otherwise):
- ``xywh``: top-left corner, width, height (the benchmarks' and the tracker's format)
- ``xyxy``: top-left and bottom-right corners
- ``cxcywh``: center, width, height (the network's format, normalised to the crop)
- ``corners``: 8 values x1,y1,x2,y2,x3,y3,x4,y4 of a (possibly rotated) polygon
"""

from __future__ import annotations

import io
import math
import re
from pathlib import Path

import numpy as np

from .errors import InputError

_SEPARATORS = re.compile(r"[,\s;]+")
_TO_SPACE = str.maketrans({",": " ", ";": " ", "\t": " "})


def xywh_to_xyxy(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    return np.concatenate([boxes[..., :2], boxes[..., :2] + boxes[..., 2:4]], axis=-1)


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    return np.concatenate([boxes[..., :2], boxes[..., 2:4] - boxes[..., :2]], axis=-1)


def xywh_to_cxcywh(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    return np.concatenate([boxes[..., :2] + 0.5 * boxes[..., 2:4], boxes[..., 2:4]], axis=-1)


def cxcywh_to_xywh(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    return np.concatenate([boxes[..., :2] - 0.5 * boxes[..., 2:4], boxes[..., 2:4]], axis=-1)


def corners_to_xywh(corners: np.ndarray) -> np.ndarray:
    """Axis-aligned bounding box (min/max, no +1) of 8-value corner polygons."""
    corners = np.asarray(corners, dtype=np.float64)
    xs, ys = corners[..., 0::2], corners[..., 1::2]
    x1, y1 = xs.min(axis=-1), ys.min(axis=-1)
    return np.stack([x1, y1, xs.max(axis=-1) - x1, ys.max(axis=-1) - y1], axis=-1)


def parse_box_line(line: str) -> list[float]:
    """Split one annotation line on commas, tabs, spaces or semicolons into floats."""
    return [float(v) for v in _SEPARATORS.split(line.strip()) if v]


def read_box_file(path: str | Path, fmt: str = "auto", allow_nan: bool = False) -> np.ndarray:
    """Read a box text file into an (N, 4) float64 ``xywh`` array.

    ``fmt`` is ``"xywh"``, ``"xyxy"``, ``"corners"`` or ``"auto"`` (4 values -> xywh,
    8 values -> corners). Any delimiter mix of comma, tab, space works. Empty lines at the end
    are ignored; anything else that is not a row of numbers raises :class:`InputError` naming
    the file and the line.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    lines = text.splitlines()
    while lines and not lines[-1].strip():
        lines.pop()
    arr = _fast_parse(lines)
    if arr is None:
        arr = np.asarray(_checked_rows(path, lines), dtype=np.float64)
    if arr.size == 0:
        raise InputError(f"{path}: no boxes in the file")
    width = arr.shape[1]
    if fmt == "auto":
        fmt = {4: "xywh", 8: "corners"}.get(width, "")
        if not fmt:
            raise InputError(f"{path}: expected 4 (x,y,w,h) or 8 (corner) values per line, found {width}")
    expected = 8 if fmt == "corners" else 4
    if width != expected:
        raise InputError(f"{path}: expected {expected} values per line for {fmt}, found {width}")
    if fmt == "corners":
        arr = corners_to_xywh(arr)
    elif fmt == "xyxy":
        arr = xyxy_to_xywh(arr)
    if not allow_nan and not np.isfinite(arr).all():
        bad = int(np.flatnonzero(~np.isfinite(arr).all(axis=1))[0]) + 1
        raise InputError(f"{path}:{bad}: box contains NaN or infinity")
    return arr


def _fast_parse(lines: list[str]) -> np.ndarray | None:
    """NumPy's C parser for the common, well-formed case; None sends the caller to the checked path."""
    if not lines:
        return np.zeros((0, 0))
    try:
        arr = np.loadtxt(io.StringIO("\n".join(lines).translate(_TO_SPACE)), ndmin=2, dtype=np.float64)
    except ValueError:
        return None
    return arr if arr.shape[0] == len(lines) else None


def _checked_rows(path: Path, lines: list[str]) -> list[list[float]]:
    """Line-by-line parsing that names the first bad line."""
    rows = []
    for number, line in enumerate(lines, start=1):
        try:
            values = parse_box_line(line)
        except ValueError:
            raise InputError(f"{path}:{number}: not a row of numbers: {line.strip()[:60]!r}") from None
        if not values:
            raise InputError(f"{path}:{number}: empty line inside the box list")
        rows.append(values)
    widths = {len(r) for r in rows}
    if len(widths) != 1:
        raise InputError(f"{path}: rows have different numbers of values {sorted(widths)}")
    return rows


def validate_box(box, image_size: tuple[int, int] | None = None, what: str = "box") -> list[float]:
    """Check a user box (x, y, w, h): finite, positive size, overlapping the image if given."""
    try:
        values = [float(v) for v in box]
    except (TypeError, ValueError):
        raise InputError(f"{what}: expected 4 numbers x,y,w,h, got {box!r}") from None
    if len(values) != 4:
        raise InputError(f"{what}: expected 4 numbers x,y,w,h, got {len(values)}")
    if not all(math.isfinite(v) for v in values):
        raise InputError(f"{what}: contains NaN or infinity: {values}")
    x, y, w, h = values
    if w <= 0 or h <= 0:
        raise InputError(f"{what}: width and height must be positive, got w={w:g}, h={h:g}")
    if image_size is not None:
        width, height = image_size
        if x >= width or y >= height or x + w <= 0 or y + h <= 0:
            raise InputError(f"{what}: {values} lies outside the {width}x{height} image")
    return values
