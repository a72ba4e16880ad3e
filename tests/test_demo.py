"""The demo tracks the real TNO clips and synthetic sequences with the bundled small model."""

import json

import cv2
import pytest
from conftest import hide_matplotlib

from ckdtrack.boxes import read_box_file
from ckdtrack.cli import main
from ckdtrack.demo import SAMPLE_DATA, TNO_CLIPS, margins_over_best, write_demo_plots, write_tno_benchmark
from ckdtrack.evaluation import evaluate_trackers

CLIP_FRAMES = {"Nato_camp": 32, "Duine": 23, "Tree": 19}


def tree_as_results(data, folder):
    """Tree's annotation scored as a tracker's results."""
    folder.mkdir()
    (folder / "Tree.txt").write_text((data / "Tree" / "init.txt").read_text())
    return evaluate_trackers("lasher", [folder], gt=data, sequences=["Tree"])


def test_tno_annotations_cover_every_frame_and_start_the_scored_clips(tmp_path):
    data = write_tno_benchmark(tmp_path / "tno")
    for name, folder in TNO_CLIPS.items():
        shipped = read_box_file(SAMPLE_DATA / "tno_fel" / folder / "init.txt", allow_nan=True)
        assert len(shipped) == CLIP_FRAMES[name]
        assert (shipped[0] == 0).all() and (shipped[1:, 2:] > 0).all()  # the person enters after frame 0
        scored = read_box_file(data / name / "init.txt")
        assert (scored == shipped[1:]).all()
        assert len(list((data / name / "visible").iterdir())) == CLIP_FRAMES[name] - 1
    before = (data / "Tree" / "init.txt").stat().st_mtime_ns
    write_tno_benchmark(tmp_path / "tno")
    assert (data / "Tree" / "init.txt").stat().st_mtime_ns == before
    # the shipped annotations score themselves perfectly through ckdtrack eval
    assert tree_as_results(data, tmp_path / "truth").trackers[0].scores["SR"] > 95


def test_without_matplotlib_the_demo_skips_its_plots_and_removes_stale_ones(tmp_path, monkeypatch):
    evaluation = tree_as_results(write_tno_benchmark(tmp_path / "tno"), tmp_path / "truth")
    stale = tmp_path / "plots" / "tno" / "lasher_SR_curves.png"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"an earlier run's plot")
    hide_matplotlib(monkeypatch)
    assert write_demo_plots({"tno": evaluation}, tmp_path / "plots") is None
    assert not stale.parent.exists()


def test_each_clip_is_compared_with_its_best_classical_tracker():
    clips = {"A": {"mine": 0.5, "ncc": 0.9, "mil": 0.2}, "B": {"mine": 1.0, "ncc": 0.3, "mil": 0.6}}
    rows = [{"clip": clip, "tracker": tracker, "success": success}
            for clip, scores in clips.items() for tracker, success in scores.items()]
    assert margins_over_best(rows, "mine", ["ncc", "mil"]) == [("A", 0.5, "ncc", 0.9), ("B", 1.0, "mil", 0.6)]


@pytest.mark.slow
def test_demo_end_to_end(tmp_path, capsys, monkeypatch):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--sequences", "2", "--frames", "30"]) == 0
    printed = capsys.readouterr().out
    scores = json.loads((out / "scores.json").read_text())["trackers"]
    assert scores["ckd-small"]["SR"] > scores["static-box"]["SR"] + 10
    clips = json.loads((out / "tno_scores.json").read_text())["clips"]
    assert {(row["clip"], row["tracker"]) for row in clips} == {
        (clip, tracker) for clip in CLIP_FRAMES for tracker in ("ckd-small", "ncc", "mil", "static-box")}
    for clip, frames in CLIP_FRAMES.items():
        capture = cv2.VideoCapture(str(out / "videos" / "tno" / f"{clip}.mp4"))
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == frames - 1
    assert len(list((out / "videos" / "synthetic").glob("*.mp4"))) == 2
    assert {p.suffix for p in (out / "plots" / "tno").iterdir()} == {".png", ".pdf"}
    assert "tracked 58 synthetic frames" in printed and "demo finished" in printed
    assert "per clip against the better classical tracker: Nato_camp " in printed
    assert f"plots:              {out / 'plots'}" in printed
    # other parameters: new synthetic sequences, tracked again (not "tracked 0 frames"); without
    # matplotlib everything but the plots is done, and the first run's plots are gone
    tables = ("scores.json", "scores.md", "tno_scores.json", "tno_scores.md")
    for name in tables:
        (out / name).unlink()
    hide_matplotlib(monkeypatch)
    assert main(["demo", "--out", str(out), "--sequences", "2", "--frames", "20"]) == 0
    printed = capsys.readouterr().out
    assert "tracked 38 synthetic frames" in printed and "demo finished" in printed
    assert json.loads((out / "synthetic" / "synth.json").read_text())["frames"] == 20
    assert all((out / name).is_file() for name in tables)
    assert "plots:              skipped, matplotlib is not installed (pip install 'ckdtrack[plots]')" in printed
    assert str(out / "plots") not in printed and not list((out / "plots").rglob("*.*"))
