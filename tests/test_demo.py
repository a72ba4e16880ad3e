"""The demo tracks the real TNO clips and synthetic sequences with the bundled small model."""

import json

import cv2
import pytest

from ckdtrack.boxes import read_box_file
from ckdtrack.cli import main
from ckdtrack.demo import SAMPLE_DATA, TNO_CLIPS, write_tno_benchmark
from ckdtrack.evaluation import evaluate_trackers

CLIP_FRAMES = {"Nato_camp": 32, "Duine": 23, "Tree": 19}


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
    (tmp_path / "truth").mkdir()
    (tmp_path / "truth" / "Tree.txt").write_text((data / "Tree" / "init.txt").read_text())
    evaluation = evaluate_trackers("lasher", [tmp_path / "truth"], gt=data, sequences=["Tree"])
    assert evaluation.trackers[0].scores["SR"] > 95


@pytest.mark.slow
def test_demo_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--sequences", "2", "--frames", "30"]) == 0
    printed = capsys.readouterr().out
    scores = json.loads((out / "scores.json").read_text())["trackers"]
    assert scores["ckd-small"]["SR"] > scores["static-box"]["SR"] + 10
    clips = json.loads((out / "tno_scores.json").read_text())["clips"]
    assert {(row["clip"], row["tracker"]) for row in clips} == {
        (clip, tracker) for clip in CLIP_FRAMES for tracker in ("ckd-small", "static-box")}
    for clip, frames in CLIP_FRAMES.items():
        capture = cv2.VideoCapture(str(out / "videos" / "tno" / f"{clip}.mp4"))
        assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == frames - 1
    assert len(list((out / "videos" / "synthetic").glob("*.mp4"))) == 2
    assert {p.suffix for p in (out / "plots" / "tno").iterdir()} == {".png", ".pdf"}
    assert "tracked 58 synthetic frames" in printed and "demo finished" in printed
    # other parameters: new synthetic sequences, tracked again (not "tracked 0 frames")
    assert main(["demo", "--out", str(out), "--sequences", "2", "--frames", "20"]) == 0
    assert "tracked 38 synthetic frames" in capsys.readouterr().out
    assert json.loads((out / "synthetic" / "synth.json").read_text())["frames"] == 20
