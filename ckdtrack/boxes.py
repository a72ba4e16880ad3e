"""Box formats and box text files, shared by the tracker, training, readers and evaluator.

Formats (all in pixels):
- ``xywh``: top-left corner, width, height (the benchmarks' and the tracker's format)
- ``xyxy``: top-left and bottom-right corners
- ``corners``: 8 values x1,y1,x2,y2,x3,y3,x4,y4 of a (possibly rotated) polygon

:func:`read_box_rows` is the one parser of box text files: ground truth, init boxes and
tracker results all go through it.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import numpy as np

from .errors import InputError

ROW_WIDTHS = (4, 8)
_SEPARATORS = re.compile(r"[,\s;]+")
_VALUE_BYTE = np.ones(256, dtype=bool)
_VALUE_BYTE[list(b" \t\n,;")] = False
_NEWLINE, _POINT, _MINUS, _PLUS, _ZERO = (np.uint8(ord(c)) for c in "\n.-+0")
_DECIMAL_BYTES = b"0123456789.+- \t\n,;"
_TO_WHITESPACE = bytes.maketrans(b",;", b"  ")
_TEXT_TO_WHITESPACE = str.maketrans(",;", "  ")
_POWERS_OF_TEN = np.array([float(10**k) for k in range(16)])
_MAX_DECIMAL_CHARS = 15  # sign, digits and point: mantissas stay below 2**53, so results are exact


def xyxy_to_xywh(boxes: np.ndarray) -> np.ndarray:
    boxes = np.asarray(boxes, dtype=np.float64)
    return np.concatenate([boxes[..., :2], boxes[..., 2:4] - boxes[..., :2]], axis=-1)


def corners_to_xywh(corners: np.ndarray, extent: float = 0.0) -> np.ndarray:
    """Axis-aligned bounding box of 8-value corner polygons: ``w = x_max - x_min + extent``.

    ``extent`` is 1 where corners are inclusive pixel indices. Float input keeps its precision
    (the evaluator works in float32, as the published toolkits do).
    """
    corners = np.asarray(corners)
    if corners.dtype.kind != "f":
        corners = corners.astype(np.float64)
    first, second, third, fourth = np.moveaxis(corners.reshape(*corners.shape[:-1], 4, 2), -2, 0)
    low = np.minimum(np.minimum(first, second), np.minimum(third, fourth))
    high = np.maximum(np.maximum(first, second), np.maximum(third, fourth))
    return np.concatenate([low, high - low + corners.dtype.type(extent)], axis=-1)


def parse_box_line(line: str) -> list[float]:
    """Split one line on commas, tabs, spaces or semicolons into floats (ValueError if one is not)."""
    return [float(v) for v in _SEPARATORS.split(line.strip()) if v]


def read_box_rows(path: str | Path) -> np.ndarray:
    """The rows of a box text file as written: an (N, 4) or (N, 8) float64 array, NaN kept.

    Values are separated by any mix of commas, semicolons, tabs and spaces, lines by LF, CRLF
    or CR; trailing blank lines are ignored and an empty file gives zero rows. Every line must hold 4 or 8 numbers,
    as many as the lines above; anything else raises :class:`InputError` naming the file and line.
    """
    path = Path(path)
    try:
        data = path.read_bytes().rstrip()
    except FileNotFoundError:
        raise InputError(f"{path}: file not found") from None
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if not data:
        return np.zeros((0, 4))
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
    rows = _parse_regular_rows(data)
    if rows is None or rows.shape[1] not in ROW_WIDTHS:
        rows = _parse_rows_line_by_line(path, data.decode("utf-8", errors="replace"))
    return rows


def read_box_file(path: str | Path, fmt: str = "auto", allow_nan: bool = False) -> np.ndarray:
    """Read a box text file into an (N, 4) float64 ``xywh`` array.

    ``fmt`` is ``"xywh"``, ``"xyxy"``, ``"corners"`` or ``"auto"`` (4 values -> xywh,
    8 values -> corners). NaN or infinite boxes are refused unless ``allow_nan``.
    """
    rows = read_box_rows(path)
    if len(rows) == 0:
        raise InputError(f"{path}: no boxes in the file")
    width = rows.shape[1]
    if fmt == "auto":
        fmt = "corners" if width == 8 else "xywh"
    expected = 8 if fmt == "corners" else 4
    if width != expected:
        raise InputError(f"{path}: expected {expected} values per line for {fmt}, found {width}")
    if fmt == "corners":
        rows = corners_to_xywh(rows)
    elif fmt == "xyxy":
        rows = xyxy_to_xywh(rows)
    if not allow_nan and not np.isfinite(rows).all():
        bad = int(np.flatnonzero(~np.isfinite(rows).all(axis=1))[0]) + 1
        raise InputError(f"{path}:{bad}: box contains NaN or infinity")
    return rows


def _parse_regular_rows(data: bytes) -> np.ndarray | None:
    """Whole-file parsing for files whose lines all hold the same number of values.

    Values are located with array operations on the bytes; plain decimals (the usual case) are
    read as integers with the decimal point removed, then scaled, which gives exactly the
    float that ``float()`` gives. Anything else (exponents, NaN) goes through NumPy's float
    conversion. None means irregular: the caller parses line by line and names the bad line.
    """
    raw = np.frombuffer(data, dtype=np.uint8)
    in_value = np.zeros(len(raw) + 2, dtype=bool)  # in_value[i + 1]: byte i belongs to a value
    in_value[1:-1] = _VALUE_BYTE.take(raw)
    bounds = (in_value[1:] != in_value[:-1]).nonzero()[0]
    starts, ends = bounds[0::2], bounds[1::2]
    newlines = (raw == _NEWLINE).nonzero()[0]
    width = int(starts.searchsorted(newlines[0])) if len(newlines) else len(starts)
    if width == 0 or len(starts) != width * (len(newlines) + 1):
        return None
    if len(newlines):
        line_ends = ends[width - 1 : -1 : width]
        line_starts = starts[width::width]
        if not ((line_ends <= newlines) & (newlines < line_starts)).all():
            return None
    if data.translate(None, _DECIMAL_BYTES):
        values = _float_values(data, len(starts))
    else:
        values = _decimal_values(data, raw, in_value, starts, ends)
    return None if values is None else values.reshape(-1, width)


def _decimal_values(data: bytes, raw, in_value, starts, ends) -> np.ndarray | None:
    """Values made only of an optional leading sign, digits and at most one point."""
    if (ends - starts).max() > _MAX_DECIMAL_CHARS:
        return None
    signs = ((raw == _MINUS) | (raw == _PLUS)).nonzero()[0]
    if len(signs):
        follows_value = in_value.take(signs)  # the byte before the sign is part of a value
        if follows_value.any() or not _is_digit_or_point(raw.take(signs + 1, mode="clip")).all():
            return None
    points = (raw == _POINT).nonzero()[0]
    if len(points):
        owner = starts.searchsorted(points, side="right") - 1
        before, after = raw.take(points - 1, mode="clip"), raw.take(points + 1, mode="clip")
        if (owner[1:] == owner[:-1]).any() or not (_is_digit(before) | _is_digit(after)).all():
            return None
        data = data.replace(b".", b"")
    values = np.fromstring(data.translate(_TO_WHITESPACE), dtype=np.int64, sep=" ").astype(np.float64)
    if len(values) != len(starts):
        return None
    if len(points):
        fraction_digits = np.zeros(len(starts), dtype=np.intp)
        fraction_digits[owner] = ends.take(owner) - points - 1
        values /= _POWERS_OF_TEN.take(fraction_digits)
    if len(signs):
        negative = raw.take(starts) == _MINUS
        values[negative] = np.copysign(values[negative], -1.0)
    return values


def _float_values(data: bytes, count: int) -> np.ndarray | None:
    """Any values ``float()`` reads (exponents, nan, inf), through NumPy's string conversion."""
    try:
        tokens = data.decode("ascii").translate(_TEXT_TO_WHITESPACE).split()
        values = np.array(tokens, dtype=np.float64)
    except (UnicodeDecodeError, ValueError):
        return None
    return values if len(values) == count else None


def _is_digit(codes: np.ndarray) -> np.ndarray:
    return (codes - _ZERO) < 10  # uint8 arithmetic: bytes below "0" wrap around to large values


def _is_digit_or_point(codes: np.ndarray) -> np.ndarray:
    return _is_digit(codes) | (codes == _POINT)


def _parse_rows_line_by_line(path: Path, text: str) -> np.ndarray:
    """The careful path: each line on its own, the first bad one named in the error."""
    rows: list[list[float]] = []
    for number, line in enumerate(text.rstrip().split("\n"), start=1):
        try:
            values = parse_box_line(line)
        except ValueError:
            raise InputError(f"{path}:{number}: not a row of numbers: {line.strip()[:60]!r}") from None
        if len(values) not in ROW_WIDTHS:
            found = len(values) or "none (an empty line)"
            raise InputError(f"{path}:{number}: expected 4 (x,y,w,h) or 8 (corner) values, found {found}")
        if rows and len(values) != len(rows[0]):
            raise InputError(f"{path}:{number}: {len(values)} values where the lines above have {len(rows[0])}")
        rows.append(values)
    return np.array(rows, dtype=np.float64)


def validate_box(box, image_size: tuple[int, int] | None = None, what: str = "box") -> list[float]:
    """Check a user box (x, y, w, h): finite, positive size, overlapping the image if given.

    ``image_size`` is ``(width, height)``, in the order of the box's own values.
    """
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
