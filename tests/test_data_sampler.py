"""Training pairs: crop geometry, augmentation consistency, causal sampling, reproducibility."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, DistributedSampler

from ckdtrack.config import CropConfig, TrainConfig, load_config
from ckdtrack.data.benchmarks import open_benchmark
from ckdtrack.data.processing import Augmentation, ProcessingParams, denormalize, make_training_pair
from ckdtrack.data.sampler import RGBTPairDataset, TrainingSource
from ckdtrack.data.sequence import RGBTSequence
from ckdtrack.data.synth import write_synthetic_dataset
from ckdtrack.geometry import CropWindow, box_to_crop, crop_window

TINY = ProcessingParams(CropConfig(template_size=32, search_size=64), feature_stride=8)


def target_image(box, size=(120, 160), value=255) -> np.ndarray:
    image = np.zeros(size + (3,), dtype=np.uint8)
    x, y, w, h = box
    image[y:y + h, x:x + w] = value
    return image


def test_no_jitter_crops_match_the_tracker_geometry():
    params = ProcessingParams(train=TrainConfig(search_center_jitter=0, search_scale_jitter=0)).without_augmentation()
    rng = np.random.default_rng(0)
    image = np.random.default_rng(1).integers(0, 256, (200, 300, 3), dtype=np.uint8)
    box = [100, 60, 40, 30]
    sample = make_training_pair((image, image), box, (image, image), box, params, rng)
    window = CropWindow.around(box, 4.0)
    expected = crop_window(image, window, 256)
    assert np.abs(denormalize(sample["search_rgb"]).astype(int) - expected).max() <= 1
    expected_anno = box_to_crop(box, box, 256 / window.size, 256, normalize=True)
    assert np.allclose(sample["search_anno"].numpy(), expected_anno, atol=1e-6)
    assert np.allclose(sample["template_anno"][:2] + sample["template_anno"][2:] / 2, 0.5, atol=0.01)


def test_rgb_and_thermal_share_geometry_and_augmentation():
    rng = np.random.default_rng(5)
    for _ in range(20):
        image = rng.integers(0, 256, (90, 120, 3), dtype=np.uint8)
        sample = make_training_pair((image, image.copy()), [40, 30, 20, 16], (image, image.copy()), [44, 32, 20, 16],
                                    ProcessingParams(augmentation=Augmentation(grayscale_probability=0.5)), rng)
        assert torch.equal(sample["template_rgb"], sample["template_tir"])
        assert torch.equal(sample["search_rgb"], sample["search_tir"])


def test_boxes_follow_flips_and_jitter():
    """Whatever the augmentation draws, the returned box covers the bright target in the crop."""
    box = [50, 40, 30, 20]
    image = target_image(box)
    rng = np.random.default_rng(11)
    for _ in range(30):
        sample = make_training_pair((image, image), box, (image, image), box, TINY, rng)
        for stage, size in (("template", 32), ("search", 64)):
            crop = denormalize(sample[f"{stage}_rgb"]).mean(axis=2)
            x, y, w, h = sample[f"{stage}_anno"].numpy() * size
            inner = crop[int(y + 0.25 * h):int(y + 0.75 * h), int(x + 0.25 * w):int(x + 0.75 * w)]
            assert inner.mean() > 150, (stage, x, y, w, h)
            outside = crop.copy()
            outside[max(0, int(y - 2)):int(y + h + 3), max(0, int(x - 2)):int(x + w + 3)] = 0
            assert outside.max() < 60


def test_shapes_dtypes_and_tiny_config():
    image = target_image([50, 40, 30, 20])
    sample = make_training_pair((image, image), [50, 40, 30, 20], (image, image), [52, 41, 30, 20], TINY,
                                np.random.default_rng(0))
    assert sample["template_rgb"].shape == (3, 32, 32) and sample["search_tir"].shape == (3, 64, 64)
    assert all(v.dtype == torch.float32 for v in sample.values())
    assert sample["search_anno"].shape == (4,)
    default = make_training_pair((image, image), [50, 40, 30, 20], (image, image), [52, 41, 30, 20],
                                 ProcessingParams(), np.random.default_rng(0))
    assert default["template_tir"].shape == (3, 128, 128) and default["search_rgb"].shape == (3, 256, 256)


def test_crop_outside_the_image_is_rejected():
    image = target_image([50, 40, 30, 20])
    assert make_training_pair((image, image), [50, 40, 30, 20], (image, image), [-900, -900, 10, 10],
                              TINY.without_augmentation(), np.random.default_rng(0)) is None


def test_negative_pairs_cut_the_search_crop_where_the_target_is_not():
    box = [100, 80, 20, 16]
    image = target_image(box, size=(240, 320))
    params = ProcessingParams(CropConfig(template_size=32, search_size=64), TrainConfig(negative_pair_ratio=0.5),
                              feature_stride=8).without_augmentation()
    assert params.train.negative_pair_ratio == 0.0  # validation pairs always show the target
    params = ProcessingParams(CropConfig(template_size=32, search_size=64), TrainConfig(negative_pair_ratio=0.5),
                              feature_stride=8, augmentation=Augmentation(0.0, 0.0, 0.0, 0.0))
    samples = [make_training_pair((image, image), box, (image, image), box, params, np.random.default_rng(seed))
               for seed in range(40)]
    samples = [sample for sample in samples if sample is not None]
    absent = [sample for sample in samples if not sample["search_anno"].any()]
    assert 8 <= len(absent) <= 32 and len(samples) - len(absent) >= 8
    for sample in samples:
        target_shown = denormalize(sample["search_rgb"]).max() > 200
        assert target_shown == bool(sample["search_anno"].any())
        assert denormalize(sample["template_rgb"]).max() > 200


def test_params_from_config():
    params = ProcessingParams.from_config(load_config("ckd_vitb"))
    assert (params.crop.template_size, params.crop.search_size, params.crop.search_factor) == (128, 256, 4.0)
    assert (params.train.search_center_jitter, params.train.search_scale_jitter,
            params.train.template_center_jitter) == (3.0, 0.25, 0.0)
    assert params.feature_stride == 16


def fake_sequence(name: str, boxes, stride: int = 1) -> RGBTSequence:
    n_frames = (len(boxes) - 1) * stride + 1
    frames = [Path(f"/nowhere/{name}/{i:06d}.jpg") for i in range(n_frames)]
    return RGBTSequence(name, frames, list(frames), visible_boxes=np.asarray(boxes, float), annotation_stride=stride)


def test_causal_pairs_with_valid_boxes_within_the_gap():
    boxes = [[1, 1, 5, 5]] * 400
    boxes[10] = [0, 0, 0, 0]
    boxes[11] = [np.nan] * 4
    boxes[12] = [3, 3, 0, 4]
    dataset = RGBTPairDataset([TrainingSource("fake", [fake_sequence("a", boxes)])], 10, max_gap=200)
    invalid = {10, 11, 12}
    rng = np.random.default_rng(0)
    for _ in range(500):
        _, template, search = dataset.draw_frames(rng)
        assert template < search <= template + 200 and template not in invalid and search not in invalid


def test_gap_widens_when_no_valid_frame_is_near():
    boxes = [[0, 0, 0, 0]] * 301
    boxes[0] = boxes[300] = [1, 1, 5, 5]
    dataset = RGBTPairDataset([TrainingSource("fake", [fake_sequence("a", boxes)])], 10, max_gap=200,
                              min_valid_frames=2)
    assert dataset.draw_frames(np.random.default_rng(0))[1:] == (0, 300)


def test_mixing_ratios_and_unusable_sequences(caplog):
    good = [[1, 1, 5, 5]] * 30
    source_a = TrainingSource("a", [fake_sequence("a", good)], ratio=3)
    source_b = TrainingSource("b", [fake_sequence("b", good), fake_sequence("b_short", good[:3])], ratio=1)
    with caplog.at_level(logging.WARNING):
        dataset = RGBTPairDataset([source_a, source_b], 10)
    assert "b: 1 of 2 sequences" in caplog.text
    rng = np.random.default_rng(0)
    picks = [dataset.draw_frames(rng)[0].sequence.name for _ in range(2000)]
    assert 0.72 < picks.count("a") / len(picks) < 0.78 and "b_short" not in picks


def test_annotation_stride_maps_rows_to_frames():
    seen = []

    def reader(path):
        seen.append(path.name)
        return target_image([50, 40, 30, 20])

    seq = fake_sequence("uav", [[50, 40, 30, 20]] * 6, stride=10)
    dataset = RGBTPairDataset([TrainingSource("vtuav", [seq])], 4, params=TINY, frame_reader=reader)
    dataset[0]
    assert seen and all(int(name[:6]) % 10 == 0 for name in seen)


@pytest.fixture(scope="module")
def synth_sequences(tmp_path_factory):
    root = tmp_path_factory.mktemp("pairs")
    write_synthetic_dataset(root, sequences=3, frames=30, size=(96, 80), seed=2)
    return open_benchmark("lasher", root, split="all")


def test_reproducible_across_workers_epochs_and_ranks(synth_sequences):
    dataset = RGBTPairDataset([TrainingSource("synth", synth_sequences)], 8, params=TINY, seed=4)
    single = next(iter(DataLoader(dataset, batch_size=8, num_workers=0)))
    multi = next(iter(DataLoader(dataset, batch_size=8, num_workers=2)))
    assert single.keys() == multi.keys()
    assert all(torch.equal(single[k], multi[k]) for k in single)
    assert single["search_rgb"].shape == (8, 3, 64, 64) and single["template_anno"].shape == (8, 4)

    dataset.set_epoch(1)
    assert not torch.equal(dataset[0]["search_rgb"], single["search_rgb"][0])
    dataset.set_epoch(0)
    # DDP: each rank gets its own indices, and together they make up the single-process epoch.
    per_rank = [list(DistributedSampler(dataset, num_replicas=2, rank=r, shuffle=False)) for r in range(2)]
    assert not set(per_rank[0]) & set(per_rank[1])
    for index in per_rank[1]:
        assert torch.equal(dataset[index]["search_anno"], single["search_anno"][index])


def test_corrupt_frame_is_logged_once_and_redrawn(synth_sequences, caplog):
    broken = synth_sequences[0].visible_frames[5]
    original = broken.read_bytes()
    broken.write_bytes(b"not a jpeg")
    try:
        dataset = RGBTPairDataset([TrainingSource("synth", synth_sequences[:1])], 60, params=TINY, seed=0)
        with caplog.at_level(logging.WARNING):
            samples = [dataset[i] for i in range(60)]
    finally:
        broken.write_bytes(original)
    assert len(samples) == 60
    assert caplog.text.count(broken.name) == 1 and broken in dataset._bad_frames
