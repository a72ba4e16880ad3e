"""The real-imagery sequence generator: object cut-out, determinism, geometry, nuisances, CLI, training."""

from __future__ import annotations

import dataclasses
import json

import cv2
import numpy as np
import pytest

from ckdtrack.cli import main
from ckdtrack.config import Config, CropConfig, DatasetEntry, ModelConfig, TrainConfig
from ckdtrack.data.benchmarks import open_benchmark
from ckdtrack.data.real_pairs import ObjectBank, build_real_scene, load_pairs, write_real_pairs_dataset
from ckdtrack.data.synth import write_synthetic_dataset
from ckdtrack.errors import InputError


def make_pairs(root, count: int = 3, size=(200, 150)) -> None:
    """Registered still pairs: textured visible images; thermal with warm upright 'people'."""
    width, height = size
    for set_name in ("day", "night"):
        for sub in ("visible", "infrared"):
            (root / set_name / sub).mkdir(parents=True)
        for index in range(count):
            rng = np.random.default_rng((len(set_name), index))
            visible = cv2.resize(rng.integers(0, 255, (height // 8, width // 8, 3), dtype=np.uint8), size)
            thermal = cv2.GaussianBlur(rng.integers(60, 100, (height, width), dtype=np.uint8), (0, 0), 3)
            for person in range(2):
                x, y = 30 + 90 * person + 5 * index, 40 + 10 * index
                cv2.rectangle(thermal, (x, y), (x + 10, y + 26), 220, -1)
                cv2.rectangle(visible, (x, y), (x + 10, y + 26), (30, 60, 200), -1)
            cv2.imwrite(str(root / set_name / "visible" / f"{index:03d}.png"), visible)
            cv2.imwrite(str(root / set_name / "infrared" / f"{index:03d}.png"), thermal)


@pytest.fixture(scope="module")
def pairs_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    make_pairs(root)
    return root


@pytest.fixture(scope="module")
def bank(pairs_root):
    return ObjectBank.build(pairs_root, seed=0)


def test_warm_objects_are_cut_where_the_thermal_image_stands_out(pairs_root, bank):
    assert len(load_pairs(pairs_root)) == 6
    assert len(bank.warm) == 12  # two people in each of the six pairs
    for cutout in bank.warm:
        height, width = cutout.alpha.shape
        assert 24 <= height <= 32 and 8 <= width <= 16
        assert cutout.heat[cutout.alpha > 0.9].mean() > 0.15  # far warmer than its surroundings
        assert cutout.visible.shape == (height, width, 3)


def test_same_seed_same_files_other_seed_other_files(tmp_path, pairs_root):
    def written(folder, seed):
        write_real_pairs_dataset(folder, pairs_root, sequences=3, frames=12, size=(128, 96), seed=seed, workers=2)
        return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    first, again, other = written(tmp_path / "a", 5), written(tmp_path / "b", 5), written(tmp_path / "c", 6)
    assert first == again
    assert first != other
    manifest = json.loads((tmp_path / "a" / "synth.json").read_text())
    assert manifest["source"] == "real-pairs" and manifest["seed"] == 5 and len(manifest["sequences"]) == 3
    sequences = open_benchmark("lasher", tmp_path / "a", split="all")
    assert [len(s) for s in sequences] == [12, 12, 12]


def test_target_is_drawn_inside_its_box_in_both_modalities(bank):
    for index in range(6):
        scene = build_real_scene(bank, index, 30, 160, 120, seed=3)
        alone = dataclasses.replace(scene, objects=scene.objects[:1], occluder=None, thermal_offset=(0.0, 0.0))
        empty = dataclasses.replace(alone, objects=[])
        visible, thermal, fraction = alone.render(0)
        background_visible, background_thermal, _ = empty.render(0)
        x, y, w, h = alone.ground_truth([fraction] * 30)[0]
        assert fraction > 0.9 and w > 0 and h > 0
        inside = np.zeros(thermal.shape, bool)
        inside[y:y + h, x:x + w] = True
        changed_visible = (visible != background_visible).any(axis=2)
        changed_thermal = thermal != background_thermal
        assert changed_visible.any() and changed_thermal.any()
        assert not (changed_visible & ~inside).any() and not (changed_thermal & ~inside).any()


def test_registration_offset_moves_only_the_thermal_image(bank):
    scene = build_real_scene(bank, 0, 30, 160, 120, seed=3)
    alone = dataclasses.replace(scene, objects=scene.objects[:1], occluder=None, thermal_offset=(0.0, 0.0))
    shifted = dataclasses.replace(alone, thermal_offset=(3.0, 0.0))
    visible, thermal, _ = alone.render(0)
    shifted_visible, shifted_thermal, _ = shifted.render(0)
    np.testing.assert_array_equal(visible, shifted_visible)
    columns = np.flatnonzero(np.abs(thermal.astype(int) - np.median(thermal)).max(axis=0) > 60)
    shifted_columns = np.flatnonzero(np.abs(shifted_thermal.astype(int) - np.median(thermal)).max(axis=0) > 60)
    assert shifted_columns.min() - columns.min() == 3


def test_nuisances_and_small_targets_occur(bank):
    scenes = [build_real_scene(bank, index, 60, 360, 270, seed=11) for index in range(40)]
    events = {name for scene in scenes for name in scene.events}
    assert {"dark", "overexposed", "crossover", "blur"} <= events
    assert any(s.grayscale for s in scenes) and any(s.thermal_offset != (0.0, 0.0) for s in scenes)
    assert any(s.occluder is not None for s in scenes) and any(len(s.objects) > 1 for s in scenes)
    heights = [s.objects[0].boxes[0, 3] for s in scenes]
    assert min(heights) <= 20  # as small as a TNO person on a 360x270 frame
    gray = next(s for s in scenes if s.grayscale)
    visible, _, _ = gray.render(5)
    assert (visible[:, :, 0] == visible[:, :, 1]).all() and (visible[:, :, 1] == visible[:, :, 2]).all()
    crossing = next(s for s in scenes if "crossover" in s.events)
    faded = crossing.events["crossover"][len(crossing.events["crossover"]) // 2]
    assert crossing.crossover[faded] == 1.0 and crossing.crossover[0] == 0.0


def test_scene_cuts_move_the_target_and_view_and_change_nothing_else(bank):
    plain = build_real_scene(bank, 2, 40, 240, 180, seed=9)
    cut = build_real_scene(bank, 2, 40, 240, 180, seed=9, cuts=2)
    frames = cut.events["cut"]
    assert len(frames) == 2 and all(10 <= frame < 40 for frame in frames) and "cut" not in plain.events
    first = frames[0]
    assert np.array_equal(cut.objects[0].boxes[:first], plain.objects[0].boxes[:first])
    jump = cut.objects[0].boxes[first, :2] - cut.objects[0].boxes[first - 1, :2]
    step = plain.objects[0].boxes[first, :2] - plain.objects[0].boxes[first - 1, :2]
    assert np.hypot(*(jump - step)) > 20
    boxes = cut.objects[0].boxes
    assert (boxes[:, 0] >= -1e-6).all() and (boxes[:, 1] >= -1e-6).all()
    assert (boxes[:, 0] + boxes[:, 2] <= 240 + 1e-6).all() and (boxes[:, 1] + boxes[:, 3] <= 180 + 1e-6).all()
    for other, same in zip(cut.objects[1:], plain.objects[1:]):
        assert np.array_equal(other.boxes, same.boxes)
    assert np.array_equal(cut.gain, plain.gain) and cut.thermal_offset == plain.thermal_offset
    with pytest.raises(InputError, match="scene cuts"):
        write_real_pairs_dataset("/nowhere", "/nowhere", frames=8, cuts=2)


def test_a_frame_step_shows_every_nth_moment_of_the_same_motion(bank):
    """Frame t at step 4 is where a step-1 sequence four times as long is at frame 4t: the same
    path and sizes (up to how the path's extremes, which keep it in the frame, are sampled),
    four times as far per frame."""
    slow = build_real_scene(bank, 1, 41, 240, 180, seed=9)
    fast = build_real_scene(bank, 1, 11, 240, 180, seed=9, frame_step=4)
    for fast_object, slow_object in zip(fast.objects, slow.objects):
        np.testing.assert_allclose(fast_object.boxes, slow_object.boxes[::4], atol=0.1)
    speed = np.hypot(*np.diff(fast.objects[0].boxes[:, :2], axis=0).T).mean()
    assert speed > 3 * np.hypot(*np.diff(slow.objects[0].boxes[:11, :2], axis=0).T).mean()


def test_camouflage_hides_the_target_in_the_visible_image_only(bank):
    """A camouflaged target keeps its box and its heat but 0-40% of its visible look; the
    draw has its own random stream, so nothing else about the sequence changes."""
    plain = build_real_scene(bank, 0, 30, 160, 120, seed=3)
    hidden = build_real_scene(bank, 0, 30, 160, 120, seed=3, camouflage=1.0)
    assert "camouflage" in hidden.events and "camouflage" not in plain.events
    assert 0.6 <= hidden.camouflage[0] <= 1.0 and (hidden.camouflage == hidden.camouflage[0]).all()
    assert np.array_equal(hidden.objects[0].boxes, plain.objects[0].boxes)
    renders = []
    for scene in (plain, hidden):
        alone = dataclasses.replace(scene, objects=scene.objects[:1], occluder=None)
        empty = dataclasses.replace(alone, objects=[])
        renders.append((alone.render(0), empty.render(0)))
    ((visible, thermal, _), (background_visible, _, _)), ((hidden_visible, hidden_thermal, _), _) = renders
    np.testing.assert_array_equal(thermal, hidden_thermal)
    shown = np.abs(visible.astype(int) - background_visible).sum()
    left = np.abs(hidden_visible.astype(int) - background_visible).sum()
    assert 0 < shown and left <= 0.45 * shown
    with pytest.raises(InputError, match="camouflaged share"):
        write_real_pairs_dataset("/nowhere", "/nowhere", camouflage=1.5)
    with pytest.raises(InputError, match="frame steps"):
        write_real_pairs_dataset("/nowhere", "/nowhere", frame_steps=(0,))


def test_frame_steps_are_drawn_per_sequence(tmp_path, pairs_root):
    write_real_pairs_dataset(tmp_path / "mixed", pairs_root, sequences=8, frames=6, size=(128, 96), seed=2,
                             frame_steps=(1, 8), camouflage=0.5)
    manifest = json.loads((tmp_path / "mixed" / "synth.json").read_text())
    assert manifest["frame_steps"] == [1, 8] and manifest["camouflage"] == 0.5
    speeds = []
    for sequence in open_benchmark("lasher", tmp_path / "mixed", split="all", annotations_only=True):
        boxes = np.asarray(sequence.boxes, float)
        speeds.append(np.hypot(*np.diff(boxes[:, :2], axis=0).T).mean())
    assert min(speeds) < 3 and max(speeds) > 3 * min(speeds)


def test_cli_writes_real_pairs_and_reports_bad_input(tmp_path, pairs_root, capsys):
    out = tmp_path / "real"
    assert main(["synth", str(out), "--source", "real-pairs", "--pairs", str(pairs_root),
                 "--sequences", "2", "--frames", "6", "--size", "128x96"]) == 0
    assert (out / "train.txt").read_text().splitlines() + (out / "test.txt").read_text().splitlines() == [
        "real_000", "real_001"]
    assert main(["synth", str(tmp_path / "x"), "--source", "real-pairs"]) == 2
    assert "--pairs DIR" in capsys.readouterr().err
    assert main(["synth", str(tmp_path / "y"), "--source", "real-pairs", "--pairs", str(tmp_path / "nothing")]) == 2
    assert "nothing: real image pair folder not found" in capsys.readouterr().err
    assert main(["synth", str(tmp_path / "z"), "--cuts", "1"]) == 2
    assert "--cuts is only used with --source real-pairs" in capsys.readouterr().err
    assert main(["synth", str(tmp_path / "z"), "--camouflage", "0.5"]) == 2
    assert "--camouflage is only used with --source real-pairs" in capsys.readouterr().err
    assert main(["synth", str(tmp_path / "cut"), "--source", "real-pairs", "--pairs", str(pairs_root),
                 "--sequences", "1", "--frames", "12", "--size", "128x96", "--cuts", "1"]) == 0
    assert len(json.loads((tmp_path / "cut" / "synth.json").read_text())["sequences"]["real_000"]["cut"]) == 1
    broken = tmp_path / "broken"
    (broken / "s" / "visible").mkdir(parents=True)
    (broken / "s" / "infrared").mkdir()
    cv2.imwrite(str(broken / "s" / "visible" / "a.png"), np.zeros((20, 20, 3), np.uint8))
    with pytest.raises(InputError, match="a.png: no registered thermal image"):
        load_pairs(broken)


def test_a_few_training_steps_on_mixed_real_and_synthetic_sequences(tmp_path, pairs_root):
    from ckdtrack.training import train

    write_real_pairs_dataset(tmp_path / "real", pairs_root, sequences=4, frames=10, size=(128, 96), seed=1)
    write_synthetic_dataset(tmp_path / "synth", sequences=2, frames=10, size=(128, 96), seed=1)
    config = Config(
        name="micro", model=ModelConfig(embed_dim=32, depth=2, num_heads=2, head_channels=16),
        crop=CropConfig(template_size=32, search_size=64),
        train=TrainConfig(stage="distill", epochs=1, samples_per_epoch=16, val_samples=4, batch_size=4, num_workers=0,
                          device="cpu", lr_head=1e-3, lr_backbone=1e-3, max_sample_interval=5, log_interval=1,
                          datasets=(DatasetEntry("real_pairs", "train", 3), DatasetEntry("synthetic", "train", 1)),
                          val_datasets=(DatasetEntry("real_pairs", "test", 1),)),
    )
    history = train(config, tmp_path / "run", {"real_pairs": str(tmp_path / "real"), "synthetic": str(tmp_path / "synth")},
                    progress=False)
    assert len(history) == 1 and np.isfinite(history[0]["train/Loss/objective"])
    assert np.isfinite(history[0]["val/Loss/objective"]) and (tmp_path / "run" / "checkpoint.pt").is_file()
