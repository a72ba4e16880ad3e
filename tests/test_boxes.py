"""The one box-file parser: exact values for every way trackers and datasets write boxes,
and an error naming the file and line for everything else."""

from __future__ import annotations

import re

import numpy as np
import pytest

from ckdtrack.boxes import read_box_file, read_box_rows
from ckdtrack.errors import InputError


def python_floats(text: str) -> np.ndarray:
    """What ``float()`` makes of each value, line by line (the reference)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").rstrip().split("\n")
    return np.array([[float(v) for v in re.split(r"[,;\s]+", line.strip())] for line in lines])


def same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal values, NaN where NaN, and the same sign on zeros."""
    return a.shape == b.shape and np.array_equal(a, b, equal_nan=True) and np.array_equal(np.signbit(a), np.signbit(b))


FORMATS = ["%d", "%.0f", "%.1f", "%.3f", "%g", "%+.2f", "%.15g", "%.18e", "%s"]
SEPARATORS = [",", " ", "\t", ", ", ";", "  "]


@pytest.mark.parametrize("seed", range(4))
def test_values_equal_python_floats_in_every_common_format(tmp_path, seed):
    rng = np.random.default_rng(seed)
    path = tmp_path / "boxes.txt"
    for _ in range(60):
        boxes = np.round(rng.normal(0, 10.0 ** rng.integers(0, 7), (rng.integers(1, 40), rng.choice([4, 8]))),
                         rng.integers(0, 7))
        boxes[rng.random(boxes.shape) < 0.05] = 0.0
        fmt, sep = rng.choice(FORMATS), rng.choice(SEPARATORS)
        text = "\n".join(sep.join(fmt % value for value in row) for row in boxes)
        text = text.replace("\n", str(rng.choice(["\n", "\r\n", "\r"]))) + "\n" * rng.integers(0, 3)
        path.write_text(text, newline="")
        assert same(read_box_rows(path), python_floats(text)), text[:200]


@pytest.mark.parametrize("text", [
    "-0,0,.5,5.\n+1,-.25,1e2,-1E-2\n",  # signs, bare points, exponents
    "nan NaN inf -inf\n1 2 3 4\n",  # non-finite values are kept for the caller to judge
    "123456789012345678 1 2 3\n",  # more digits than a double holds exactly
    " 1, 2 ,3 ;4\t\n\t5 6 7 8 \n\n\n",  # mixed separators, leading and trailing blanks
    "1 2 3 4\r\n5 6 7 8\r9 10 11 12",  # CRLF and CR line ends
    "0001 002.50 1_000 4\n",  # leading zeros; Python's digit grouping
])
def test_unusual_but_valid_files(tmp_path, text):
    path = tmp_path / "boxes.txt"
    path.write_bytes(text.encode())
    assert same(read_box_rows(path), python_floats(text))


@pytest.mark.parametrize("text, problem", [
    ("1,2,3,4\n1,2,x,4\n", ":2: not a row of numbers: '1,2,x,4'"),
    ("1 2 3 4\n1-2 3 4 5\n", ":2: not a row of numbers"),
    ("1 2 3 4\n1.2.3 3 4 5\n", ":2: not a row of numbers"),
    ("1 2 3 4\n. 3 4 5\n", ":2: not a row of numbers"),
    ("1 2 3 4\n- 3 4 5\n", ":2: not a row of numbers"),
    ("1,2,3\n", ":1: expected 4 \\(x,y,w,h\\) or 8 \\(corner\\) values, found 3"),
    ("1,2,3,4\n1,2,3\n", ":2: expected 4 .* found 3"),
    ("1,2,3,4\n\n1,2,3,4\n", ":2: expected 4 .* found none"),
    ("\n1,2,3,4\n", ":1: expected 4 .* found none"),
    ("1 2 3 4\n1 2 3 4 5 6 7 8\n", ":2: 8 values where the lines above have 4"),
    ("1 2 3 4 5 6 7 8\n1 2 3 4\n", ":2: 4 values where the lines above have 8"),
    ("1 2 3 4 1 2\n3 4\n", ":1: expected 4 .* found 6"),  # right count overall, wrong per line
])
def test_bad_files_name_the_file_and_line(tmp_path, text, problem):
    path = tmp_path / "a.txt"
    path.write_text(text)
    with pytest.raises(InputError, match=problem) as error:
        read_box_rows(path)
    assert str(error.value).startswith(f"{path}:")


def test_empty_and_missing_files(tmp_path):
    path = tmp_path / "empty.txt"
    path.write_text("\n \n")
    assert read_box_rows(path).shape == (0, 4)
    with pytest.raises(InputError, match="no boxes in the file"):
        read_box_file(path)
    with pytest.raises(InputError, match="missing.txt: file not found"):
        read_box_rows(tmp_path / "missing.txt")


def test_ground_truth_and_results_share_the_parser(tmp_path):
    """read_box_file converts and checks what read_box_rows reads: same values, same errors."""
    path = tmp_path / "gt.txt"
    path.write_text("10;20;50;20;50;60;10;60\r\n1.5,2,3,4,5,6,7,8\r\n")
    assert read_box_rows(path).tolist() == [[10, 20, 50, 20, 50, 60, 10, 60], [1.5, 2, 3, 4, 5, 6, 7, 8]]
    assert read_box_file(path).tolist() == [[10, 20, 40, 40], [1.5, 2, 5.5, 6]]
    path.write_text("1 2 3 4\n1 2 3 x\n")
    for reader in (read_box_rows, read_box_file):
        with pytest.raises(InputError, match="gt.txt:2: not a row of numbers"):
            reader(path)


def test_regular_files_are_parsed_whole(tmp_path, monkeypatch):
    """Well-formed files never take the slow line-by-line path (the speed of `ckdtrack eval`)."""
    import ckdtrack.boxes

    def line_by_line(path, text):
        raise AssertionError(f"{path} went through the line-by-line parser")

    monkeypatch.setattr(ckdtrack.boxes, "_parse_rows_line_by_line", line_by_line)
    path = tmp_path / "boxes.txt"
    boxes = np.random.default_rng(0).uniform(-50, 500, (300, 8))
    for fmt, sep in [("%d", "\t"), ("%.1f", " "), ("%.3f", ","), ("%.18e", " "), ("%g", ";")]:
        np.savetxt(path, boxes, fmt=fmt, delimiter=sep)
        assert read_box_rows(path).shape == (300, 8)
    path.write_text("1,2,3,4\nnan,nan,nan,nan\r\n5,6,7,8\n\n")
    assert read_box_rows(path).shape == (3, 4)
