"""The demo runs end to end with the bundled model and the trained model beats a static box."""

import json

import cv2

from ckdtrack.cli import main


def test_demo_end_to_end(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--sequences", "2", "--frames", "30"]) == 0
    scores = json.loads((out / "scores.json").read_text())["trackers"]
    assert scores["ckd-tiny"]["SR"] > scores["static-box"]["SR"] + 10
    assert (out / "scores.md").read_text().startswith("| Tracker")
    videos = sorted(p.name for p in (out / "videos").glob("*.mp4"))
    assert "Nato_camp.mp4" in videos and len(videos) == 3
    capture = cv2.VideoCapture(str(out / "videos" / "Nato_camp.mp4"))
    assert int(capture.get(cv2.CAP_PROP_FRAME_COUNT)) == 31
    assert {p.suffix for p in (out / "plots").iterdir()} == {".png", ".pdf"}
    assert "demo finished" in capsys.readouterr().out
