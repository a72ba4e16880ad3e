"""Synthetic RGB-T sequences: layout, determinism, and the modality events they promise."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ckdtrack.cli import main
from ckdtrack.data.benchmarks import open_benchmark
from ckdtrack.data.sequence import open_sequence_dir
from ckdtrack.data.synth import build_scene, write_synthetic_dataset
from ckdtrack.errors import InputError


@pytest.fixture(scope="module")
def synth_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    write_synthetic_dataset(root, sequences=4, frames=24, size=(96, 80), seed=7)
    return root


def test_layout_opens_with_every_reader(synth_root):
    seq = open_sequence_dir(synth_root / "synth_000")
    assert len(seq) == 24 and seq.boxes.shape == (24, 4)
    assert seq.visible_frames[0].name == "v000001.jpg" and seq.thermal_frames[0].name == "i000001.jpg"
    assert seq.boxes[0, 2] > 0 and seq.boxes[0, 3] > 0  # frame 0 is always initialisable
    train = open_benchmark("lasher", synth_root, split="train")
    test = open_benchmark("lasher", synth_root, split="test")
    assert [s.name for s in train] == ["synth_000", "synth_001", "synth_002"]
    assert [s.name for s in test] == ["synth_003"]
    for s in train + test:
        assert len(s.visible_frames) == len(s.thermal_frames) == len(s.visible_boxes) == 24
        assert np.array_equal(s.visible_boxes, s.thermal_boxes)
    # Frame names differ between sequences, as in LasHeR.
    assert train[1].visible_frames[0].name == "000001.jpg"


def test_deterministic_per_seed(tmp_path, synth_root):
    write_synthetic_dataset(tmp_path / "again", sequences=4, frames=24, size=(96, 80), seed=7, workers=1)
    for name in ("synth_000/init.txt", "synth_002/visible/000001.jpg", "synth_003/infrared/000023.jpg", "synth.json"):
        assert (tmp_path / "again" / name).read_bytes() == (synth_root / name).read_bytes()
    write_synthetic_dataset(tmp_path / "other", sequences=1, frames=24, size=(96, 80), seed=8)
    assert (tmp_path / "other/synth_000/init.txt").read_text() != (synth_root / "synth_000/init.txt").read_text()


def target_contrast(image: np.ndarray, box) -> float:
    """Mean absolute difference between the target's inner area and a ring around it."""
    x, y, w, h = (int(round(v)) for v in box)
    inner = image[y + h // 4:y + h - h // 4, x + w // 4:x + w - w // 4].astype(np.float64)
    outer = image[max(0, y - h // 2):y + h + h // 2, max(0, x - w // 2):x + w + w // 2].astype(np.float64)
    return abs(inner.mean() - (outer.sum() - inner.sum()) / max(1, outer.size - inner.size))


def test_dark_and_crossover_frames_hide_one_modality():
    scene = build_scene(0, 80, 160, 128, seed=3)
    dark, cross = scene.events["dark"], scene.events["crossover"]
    assert dark and cross and not set(dark) & set(cross) and 0 not in dark + cross
    box = scene.objects[0].boxes
    normal = [t for t in range(80) if t not in dark + cross][:10]
    dark_mid, cross_mid = dark[len(dark) // 2], cross[len(cross) // 2]
    v_dark, i_dark, _ = scene.render(dark_mid)
    v_cross, i_cross, _ = scene.render(cross_mid)
    normal_frames = [scene.render(t) for t in normal]
    # Dark: the visible image is nearly black, the thermal image still shows a warm target.
    assert v_dark.mean() < 0.25 * np.mean([f[0].mean() for f in normal_frames])
    assert target_contrast(i_dark, box[dark_mid]) > 20
    # Crossover: the target has the background's temperature, but stays visible in RGB.
    assert target_contrast(i_cross, box[cross_mid]) < 0.4 * np.mean(
        [target_contrast(f[1], box[t]) for f, t in zip(normal_frames, normal)])
    assert target_contrast(v_cross.mean(axis=2), box[cross_mid]) > 5


def test_target_moves_smoothly_and_changes_scale():
    boxes = build_scene(2, 100, 320, 256, seed=0).objects[0].boxes
    centers = boxes[:, :2] + boxes[:, 2:] / 2
    steps = np.linalg.norm(np.diff(centers, axis=0), axis=1)
    assert steps.max() < 0.25 * boxes[:, 2:].min() and steps.sum() > 50
    area = boxes[:, 2] * boxes[:, 3]
    assert area.max() / area.min() > 1.2
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 0] + boxes[:, 2] <= 320).all() and (boxes[:, 1] + boxes[:, 3] <= 256).all()


def test_manifest_and_cli(tmp_path, capsys):
    assert main(["synth", str(tmp_path / "cli"), "--sequences", "2", "--frames", "5", "--size", "64x48", "--seed", "1"]) == 0
    manifest = json.loads((tmp_path / "cli" / "synth.json").read_text())
    assert manifest["seed"] == 1 and set(manifest["sequences"]) == {"synth_000", "synth_001"}
    assert "wrote 2 sequences" in capsys.readouterr().out
    assert main(["synth", str(tmp_path / "bad"), "--sequences", "0"]) == 2
    with pytest.raises(InputError):
        build_scene(0, 1, 64, 64, seed=0)
