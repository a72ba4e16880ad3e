"""``ckdtrack test``: every sequence tracked once, atomically, resumable, multi-worker."""

import json
import os
import stat

import numpy as np
import pytest
import torch

from ckdtrack.cli import main
from ckdtrack.demo import DEMO_WEIGHTS
from ckdtrack.tracking.baselines import static_box_results
from conftest import tiny_config, write_sequence


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

    first_rows = {row["name"]: row for row in summary["per_sequence"]}

    before = (out / "seqA.txt").stat().st_mtime_ns
    (out / "seqB.txt").unlink()
    assert main(args) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["sequences_already_done"] == 2 and summary["sequences_tracked"] == 1
    assert summary["sequences_done"] == 3 and summary["tracked_frames"] == 2 + 3 + 4
    rows = {row["name"]: row for row in summary["per_sequence"]}
    assert [name for name, row in rows.items() if row["this_run"]] == ["seqB"]
    for name in ("seqA", "seqC"):
        # Re-read from <seq>_time.txt, whose per-frame values have 6 decimals.
        assert rows[name]["seconds"] == pytest.approx(first_rows[name]["seconds"], rel=1e-4, abs=5e-6)
        assert rows[name]["forward_seconds"] == first_rows[name]["forward_seconds"]
    assert (out / "seqA.txt").stat().st_mtime_ns == before
    assert "already done" in capsys.readouterr().out


def boxes_in(out):
    return {p.name: p.read_text() for p in out.glob("seq*.txt") if not p.stem.endswith("_time")}


def strict_json(path):
    """JSON as the standard defines it: a bare NaN or Infinity is an error."""
    def reject(constant):
        raise ValueError(f"{path}: {constant} is not JSON")
    return json.loads(path.read_text(), parse_constant=reject)


def test_incomplete_results_are_tracked_again_and_the_summary_covers_all(tmp_path, tiny_weights):
    root = make_lasher_root(tmp_path / "LasHeR", ["seqA", "seqB", "seqC", "seqD"])
    out = tmp_path / "results"
    args = ["test", "lasher", "--data-root", str(root), "--weights", str(tiny_weights), "--out", str(out), "--quiet"]
    assert main(args) == 0
    complete = {name: (out / f"{name}.txt").read_text() for name in ("seqA", "seqB", "seqC", "seqD")}
    (out / "seqA.txt").write_text("".join(complete["seqA"].splitlines(keepends=True)[:-1]))  # a frame short
    (out / "seqB.txt").write_text("")
    (out / "seqC.txt").write_text(complete["seqC"][:-6])  # cut inside the last line
    (out / "seqD_time.txt").write_text("0.01\n")
    before_untouched = (out / "seqD.txt").stat().st_mtime_ns

    assert main(args) == 0
    summary = strict_json(out / "summary.json")
    assert sorted(row["name"] for row in summary["per_sequence"] if row["this_run"]) == ["seqA", "seqB", "seqC",
                                                                                         "seqD"]
    assert {name: (out / f"{name}.txt").read_text() for name in complete} == complete
    assert (out / "seqD.txt").stat().st_mtime_ns != before_untouched
    assert summary["sequences_already_done"] == 0 and summary["tracked_frames"] == 2 + 3 + 4 + 5


def test_results_of_other_weights_are_refused_unless_overwritten(tmp_path, tiny_weights, capsys):
    from ckdtrack.models import CKD
    from ckdtrack.tracking.test_runner import TrackerSpec, run_benchmark

    root = make_lasher_root(tmp_path / "LasHeR", ["seqA", "seqB"])
    out = tmp_path / "results"
    assert main(["test", "lasher", "--data-root", str(root), "--weights", str(tiny_weights), "--out", str(out),
                 "--quiet"]) == 0
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["weights"] == str(tiny_weights.resolve()) and len(manifest["weights_sha256"]) == 64
    old = boxes_in(out)
    torch.manual_seed(1)
    other = tmp_path / "other.pth.tar"
    torch.save({"net": CKD(tiny_config()).state_dict(), "config": tiny_config().to_dict()}, other)
    capsys.readouterr()

    (out / "seqB.txt").unlink()
    for extra in ([], ["--int-boxes"]):
        weights = other if not extra else tiny_weights
        assert main(["test", "lasher", "--data-root", str(root), "--weights", str(weights), "--out", str(out),
                     "--quiet", *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and str(out) in err and "--overwrite" in err
        assert ("other weights" in err and str(other) in err) if not extra else "int_boxes" in err
    assert boxes_in(out) == {k: v for k, v in old.items() if k != "seqB.txt"}

    moved = tmp_path / "moved.pth.tar"
    moved.write_bytes(tiny_weights.read_bytes())
    run_benchmark("lasher", root, TrackerSpec(str(moved)), out, progress=False)  # same bytes elsewhere: resumes
    assert boxes_in(out) == old

    summary = run_benchmark("lasher", root, TrackerSpec(str(other)), out, progress=False, overwrite=True)
    assert summary["sequences_tracked"] == 2 and summary["sequences_already_done"] == 0
    assert json.loads((out / "run.json").read_text())["weights"] == str(other.resolve())
    assert boxes_in(out) != old


def test_results_without_a_manifest_are_refused(tmp_path, tiny_weights, capsys):
    root = make_lasher_root(tmp_path / "LasHeR", ["seqA"])
    out = tmp_path / "results"
    out.mkdir()
    (out / "seqA.txt").write_text("20,20,16,12\n20,20,16,12\n20,20,16,12\n")
    (out / "seqA_time.txt").write_text("0.1\n0.1\n0.1\n")
    assert main(["test", "lasher", "--data-root", str(root), "--weights", str(tiny_weights), "--out", str(out),
                 "--quiet"]) == 2
    assert "no readable run.json" in capsys.readouterr().err
    assert (out / "seqA.txt").read_text() == "20,20,16,12\n20,20,16,12\n20,20,16,12\n"


def test_unwritable_results_folder_is_refused_before_tracking(tmp_path, tiny_weights, capsys):
    root = make_lasher_root(tmp_path / "LasHeR", ["seqA"])
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert main(["test", "lasher", "--data-root", str(root), "--weights", str(tiny_weights),
                 "--out", str(blocker / "results"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "cannot write results" in err


def test_one_frame_sequence_has_no_fps_and_valid_json(tmp_path, tiny_weights):
    from ckdtrack.tracking.test_runner import TrackerSpec, format_summary, run_benchmark

    root = tmp_path / "LasHeR"
    write_sequence(root / "testingset" / "single", frames=1)
    (root / "test.txt").write_text("single\n")
    out = tmp_path / "results"
    summary = run_benchmark("lasher", root, TrackerSpec(str(tiny_weights)), out, progress=False)
    on_disk = strict_json(out / "summary.json")
    assert on_disk == summary
    assert on_disk["per_sequence"][0]["fps"] is None and on_disk["fps_end_to_end"] is None
    text = format_summary(summary, out)
    assert "n/a FPS" in text and "nan" not in text.lower()


def test_failed_sequence_does_not_stop_the_others(tmp_path, tiny_weights, capsys):
    from ckdtrack.tracking.test_runner import SequencesFailed, TrackerSpec, format_summary, run_benchmark

    root = make_lasher_root(tmp_path / "LasHeR", ["bad", "good", "missing"])
    (root / "testingset" / "bad" / "infrared" / "00002.png").write_bytes(b"")
    (root / "testingset" / "missing" / "visible" / "00003.png").unlink()
    (root / "testingset" / "missing" / "visible" / "00003.jpg").write_bytes(b"\xff\xd8 cut")
    out = tmp_path / "results"
    with pytest.raises(SequencesFailed) as failure:
        run_benchmark("lasher", root, TrackerSpec(str(tiny_weights)), out, progress=False)
    assert failure.value.exit_status == 2
    message = str(failure.value)
    assert message.startswith("2 of 3 sequences failed: bad: ") and "\n" not in message
    assert "00002.png: corrupt or unreadable image" in message and "missing: " in message
    summary = strict_json(out / "summary.json")
    assert summary == failure.value.summary
    assert [row["name"] for row in summary["per_sequence"]] == ["good"]
    assert [row["name"] for row in summary["failed"]] == ["bad", "missing"]
    assert np.loadtxt(out / "good.txt", delimiter=",").shape == (4, 4)
    assert "bad: FAILED: " in capsys.readouterr().err
    assert "  bad                              FAILED: " in format_summary(summary, out)


def test_atomic_writes_get_the_permissions_open_would_give(tmp_path, tiny_weights):
    from ckdtrack.io import atomic_path, atomic_torch_save, atomic_write_text

    previous = os.umask(0o027)
    try:
        atomic_write_text(tmp_path / "a.txt", "x")
        atomic_torch_save({"w": torch.zeros(2)}, tmp_path / "b.pth")
        with atomic_path(tmp_path / "c.onnx") as tmp:
            tmp.write_bytes(b"onnx")
        with open(tmp_path / "reference.txt", "w") as handle:
            handle.write("x")
        root = make_lasher_root(tmp_path / "LasHeR", ["seqA"])
        assert main(["test", "lasher", "--data-root", str(root), "--weights", str(tiny_weights),
                     "--out", str(tmp_path / "results"), "--quiet"]) == 0
    finally:
        os.umask(previous)
    expected = stat.S_IMODE((tmp_path / "reference.txt").stat().st_mode)
    assert expected == 0o640
    written = [tmp_path / "a.txt", tmp_path / "b.pth", tmp_path / "c.onnx",
               *sorted((tmp_path / "results").iterdir())]
    assert len(written) == 3 + 4  # seqA.txt, seqA_time.txt, run.json, summary.json
    assert {p.name: stat.S_IMODE(p.stat().st_mode) for p in written} == {p.name: expected for p in written}
    assert not list(tmp_path.glob(".*.tmp"))


@pytest.mark.slow
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


@pytest.mark.slow
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
