"""``ckdtrack test``: every sequence tracked once, atomically, resumable, multi-worker."""

import json

import numpy as np
import pytest

from ckdtrack.cli import main
from ckdtrack.demo import DEMO_WEIGHTS, static_box_results
from conftest import write_sequence


def make_lasher_root(root, names):
    for i, name in enumerate(names):
        write_sequence(root / "testingset" / name, frames=3 + i, box=(20 + i, 20, 16, 12))
    (root / "test.txt").write_text("\n".join(names) + "\n")
    return root


def test_runner_writes_results_and_resumes(tmp_path, tiny_weights, capsys):
    root = make_lasher_root(tmp_path / "LasHeR", ["seqA", "seqB", "seqC"])
    out = tmp_path / "results"
    args = ["test", "lasher", "--data-root", str(root), "--weights", str(tiny_weights), "--out", str(out), "--quiet"]
    assert main(args) == 0
    for i, name in enumerate(["seqA", "seqB", "seqC"]):
        boxes = np.loadtxt(out / f"{name}.txt", delimiter=",")
        assert boxes.shape == (3 + i, 4)
        assert boxes[0].tolist() == [20 + i, 20, 16, 12]
        frame_seconds = np.loadtxt(out / f"{name}_time.txt")
        assert frame_seconds.shape == (3 + i,) and np.all(frame_seconds > 0)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sequences_tracked"] == 3 and summary["tracked_frames"] == 2 + 3 + 4
    seq_c = summary["per_sequence"][2]
    assert seq_c["seconds"] == pytest.approx(np.loadtxt(out / "seqC_time.txt")[1:].sum(), rel=1e-4)

    before = (out / "seqA.txt").stat().st_mtime_ns
    (out / "seqB.txt").unlink()
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sequences_already_done"] == 2 and summary["sequences_tracked"] == 1
    assert [row["name"] for row in summary["per_sequence"]] == ["seqB"]
    assert (out / "seqA.txt").stat().st_mtime_ns == before
    assert "already done" in capsys.readouterr().out


def test_runner_with_two_workers_matches_one_worker(tmp_path, tiny_weights):
    root = make_lasher_root(tmp_path / "LasHeR", ["s1", "s2", "s3"])
    outputs = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        assert main(["test", "lasher", "--data-root", str(root), "--weights", str(tiny_weights), "--out", str(out),
                     "--workers", str(workers), "--quiet", "--int-boxes", "--videos", str(out / "videos")]) == 0
        outputs[workers] = {p.name: p.read_text() for p in out.glob("s?.txt")}
        assert sorted(p.name for p in (out / "videos").iterdir()) == ["s1.mp4", "s2.mp4", "s3.mp4"]
    assert outputs[1] == outputs[2] and len(outputs[1]) == 3
    assert all("." not in text for text in outputs[1].values())


def test_runner_bad_sequence_is_reported(tmp_path, tiny_weights, capsys):
    root = make_lasher_root(tmp_path / "LasHeR", ["good", "bad"])
    (root / "testingset" / "bad" / "visible" / "00002.png").write_bytes(b"broken")
    assert main(["test", "lasher", "--data-root", str(root), "--weights", str(tiny_weights),
                 "--out", str(tmp_path / "r"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "00002.png" in err and "corrupt" in err
    assert not (tmp_path / "r" / "bad.txt").exists()


def test_runner_starts_from_init_txt_when_it_differs_from_the_ground_truth(tmp_path, tiny_weights):
    root = tmp_path / "RGBT234"
    seq = write_sequence(root / "afterrain", frames=3, box=(20, 20, 16, 12))
    boxes = (seq / "init.txt").read_text()
    (seq / "visible.txt").write_text(boxes.replace("20,20,16,12", "21,22,10,30", 1))
    (seq / "infrared.txt").write_text(boxes)
    out = tmp_path / "results"
    assert main(["test", "rgbt234", "--data-root", str(root), "--weights", str(tiny_weights), "--out", str(out),
                 "--quiet"]) == 0
    assert (out / "afterrain.txt").read_text().splitlines()[0] == "20.00,20.00,16.00,12.00"


def test_cli_chain_synth_test_eval(tmp_path, capsys):
    """What a user runs: generate data, track its test split, score the result folder."""
    data, results = tmp_path / "data", tmp_path / "results" / "ckd-tiny"
    assert main(["synth", str(data), "--sequences", "4", "--frames", "16", "--seed", "11",
                 "--test-fraction", "0.5"]) == 0
    test_names = (data / "test.txt").read_text().split()
    assert len(test_names) == 2
    assert main(["test", "lasher", "--data-root", str(data), "--weights", str(DEMO_WEIGHTS), "--out", str(results),
                 "--quiet"]) == 0
    assert sorted(p.stem for p in results.glob("*.txt") if not p.stem.endswith("_time")) == sorted(test_names)
    static_box_results(data, tmp_path / "results" / "static")
    scores_path = tmp_path / "scores.json"
    assert main(["eval", "lasher", str(results), str(tmp_path / "results" / "static"), "--gt", str(data), "--strict",
                 "--json", str(scores_path)]) == 0
    trackers = json.loads(scores_path.read_text())["trackers"]
    assert not trackers["ckd-tiny"]["warnings"]
    assert trackers["ckd-tiny"]["SR"] > trackers["static"]["SR"] + 10
    assert trackers["ckd-tiny"]["PR"] > trackers["static"]["PR"] + 10
