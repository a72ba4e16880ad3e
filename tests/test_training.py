"""CKD training: losses, masking, optimiser groups, trainer resume, export, initialisation, CLI."""

from __future__ import annotations

import dataclasses
import hashlib
import json

import pytest
import torch
import yaml

from ckdtrack.cli import main
from ckdtrack.data.synth import write_synthetic_dataset
from ckdtrack.errors import InputError
from ckdtrack.config import Config, CropConfig, ModelConfig, TrainConfig, load_config
from ckdtrack.models import CKD, load_model
from ckdtrack.models.pretrained import load_initial_weights, resize_grid_embedding
from ckdtrack.training import train
from ckdtrack.training.losses import content_loss, gaussian_heatmap, keep_mask, style_loss
from ckdtrack.training.objective import TrainingNetwork, compute_losses
from ckdtrack.training.trainer import parameter_groups

MICRO_MODEL = {"embed_dim": 32, "depth": 2, "num_heads": 2, "head_channels": 16, "ce_layers": []}
MICRO_CROP = {"template_size": 32, "template_factor": 2.0, "search_size": 64, "search_factor": 4.0}
MICRO = Config(model=ModelConfig(embed_dim=32, depth=2, num_heads=2, head_channels=16),
               crop=CropConfig(template_size=32, search_size=64))


def micro_config(path, **train):
    """A seconds-fast stage-1 config on the synthetic data set."""
    settings = {"stage": "distill", "epochs": 2, "samples_per_epoch": 8, "val_samples": 4, "batch_size": 4,
                "num_workers": 0, "device": "cpu", "lr_head": 1e-3, "lr_backbone": 1e-4, "log_interval": 1,
                "max_sample_interval": 10,
                "datasets": [{"name": "synthetic", "split": "train"}],
                "val_datasets": [{"name": "synthetic", "split": "test"}]}
    settings.update(train)
    path.write_text(yaml.safe_dump({"model": MICRO_MODEL, "crop": MICRO_CROP, "train": settings}))
    return path


@pytest.fixture(scope="module")
def synthetic_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth")
    write_synthetic_dataset(root, sequences=4, frames=12, size=(128, 96), seed=3)
    return root


def test_heatmap_peaks_at_the_box_centre():
    heatmap = gaussian_heatmap(torch.tensor([[0.25, 0.5, 0.25, 0.25], [0.0, 0.0, 0.1, 0.1]]), 16)
    assert heatmap.shape == (2, 1, 16, 16)
    assert heatmap[0, 0, 10, 6] == 1 and (heatmap[0] == 1).sum() == 1
    assert heatmap[0, 0, 10, 5] < 1 and heatmap[0, 0, 10, 5] > 0
    assert heatmap[0, 0, 0, 0] == 0
    assert heatmap[1, 0, 1, 1] == 1


def test_keep_mask_masks_the_configured_share_per_sample():
    generator = torch.Generator().manual_seed(0)
    keep = keep_mask(3, 256, 1.0, 0.25, generator)
    assert keep.shape == (3, 256) and keep.dtype == torch.bool
    assert (~keep).sum(dim=1).tolist() == [64, 64, 64]
    assert not torch.equal(keep[0], keep[1])
    assert keep_mask(3, 256, 0.0, 0.25) is None
    assert keep_mask(4, 256, 0.5, 0.25, torch.Generator().manual_seed(1)).all(dim=1).any()


def test_distillation_losses_vanish_on_equal_features_and_spare_the_teacher():
    student = torch.randn(2, 10, 8, requires_grad=True)
    teacher = torch.randn(2, 10, 8, requires_grad=True)
    assert content_loss(student.detach(), student).item() == pytest.approx(0, abs=1e-10)
    assert style_loss(student, student.detach().clone()).item() == pytest.approx(0, abs=1e-10)
    content_loss(teacher, student, "token").backward()
    assert teacher.grad is None and student.grad.abs().sum() > 0
    shifted = student.detach() * 2 + 1
    assert content_loss(shifted, student.detach()).item() == pytest.approx(0, abs=1e-8)
    assert style_loss(shifted, student.detach()).item() > 0.1


def test_masked_modeling_reaches_students_only():
    torch.manual_seed(0)
    model = CKD(MICRO, with_teachers=True).eval()
    batch = {k: torch.randn(2, 3, 32, 32) for k in ("template_rgb", "template_tir")}
    batch.update({k: torch.randn(2, 3, 64, 64) for k in ("search_rgb", "search_tir")})
    network = TrainingNetwork(model, "distill")
    plain = network(batch)
    keep = keep_mask(2, 16, 1.0, 0.25, torch.Generator().manual_seed(0))
    masked = network(batch, keep)
    for name in ("teacher_rgb", "teacher_tir"):
        torch.testing.assert_close(masked[name]["layers"][-1], plain[name]["layers"][-1])
    for name in ("layers_rgb", "layers_tir"):
        assert not torch.allclose(masked[name][0], plain[name][0])
        # Template tokens of block 0 see the masked search tokens only through attention, so
        # a masked search token differs from the unmasked run.
        dropped = (~keep[0]).nonzero()[0, 0] + 4
        assert not torch.allclose(masked[name][0][0, dropped], plain[name][0][0, dropped])


def test_target_absent_pairs_train_the_score_map_down_and_skip_the_box_losses():
    torch.manual_seed(0)
    model = CKD(MICRO, with_teachers=True)
    batch = {k: torch.randn(3, 3, 32, 32) for k in ("template_rgb", "template_tir")}
    batch.update({k: torch.randn(3, 3, 64, 64) for k in ("search_rgb", "search_tir")})
    outputs = TrainingNetwork(model, "distill")(batch)
    anno = torch.tensor([[0.4, 0.4, 0.2, 0.2], [0.3, 0.5, 0.25, 0.2], [0.0, 0.0, 0.0, 0.0]])
    student = outputs["student"]
    _, mixed = compute_losses({"student": student}, anno, TrainConfig(), MICRO.search_grid)
    first_two = {"student": {key: student[key][:2] for key in ("score_map", "pred_boxes")}}
    _, present_only = compute_losses(first_two, anno[:2], TrainConfig(), MICRO.search_grid)
    # The box losses and IoU see only the two pairs that show the target ...
    for key in ("Loss/giou", "Loss/l1", "IoU"):
        torch.testing.assert_close(mixed[key], present_only[key])
    # ... while the absent one adds a penalty on every score above zero, with the teachers too.
    assert mixed["Loss/location"] > present_only["Loss/location"]
    loss, status = compute_losses(outputs, anno, TrainConfig(), MICRO.search_grid)
    (gradient,) = torch.autograd.grad(loss, student["score_map"])
    assert (gradient[2] > 0).all() and torch.isfinite(loss) and torch.isfinite(status["Loss/teacher_rgb"])


def test_parameter_groups_follow_the_stage():
    config = load_config("ckd_vitb")
    model = CKD(MICRO, with_teachers=True)
    groups = {g["name"]: g for g in parameter_groups(model, config.train)}
    assert groups["head"]["lr"] == 5e-5 and groups["backbone"]["lr"] == 5e-6
    head_ids = {id(p) for name in ("box_head", "box_head_v", "box_head_i") for p in getattr(model, name).parameters()}
    assert {id(p) for p in groups["head"]["params"]} == head_ids
    assert not model.rgb_branch.cls_token.requires_grad and model.teacher_tir.blocks[0].attn.qkv.weight.requires_grad
    stage2 = load_config("ckd_vitb_mce")
    students = CKD(MICRO)
    groups = parameter_groups(students, stage2.train)
    assert [g["name"] for g in groups] == ["head"]
    assert {id(p) for p in groups[0]["params"]} == {id(p) for p in students.box_head.parameters()}
    assert not any(p.requires_grad for p in students.rgb_branch.parameters())


def test_training_learns_resumes_exactly_and_exports(tmp_path, synthetic_root):
    config_path = micro_config(tmp_path / "micro.yaml")
    roots = {"synthetic": str(synthetic_root)}
    history = train(load_config(config_path), tmp_path / "full", roots, progress=False)
    assert [h["epoch"] for h in history] == [1, 2]
    assert {"train/Loss/objective", "train/Loss/style", "train/Loss/content", "val/Loss/objective",
            "train/IoU", "train/samples_per_s"} <= set(history[-1])
    assert (tmp_path / "full" / "scalars.jsonl").read_text().count("lr/head") >= 4

    full_config = load_config(config_path)
    short = dataclasses.replace(full_config, train=dataclasses.replace(full_config.train, epochs=1))
    train(short, tmp_path / "split", roots, progress=False)
    with pytest.raises(InputError, match="--resume"):
        train(short, tmp_path / "split", roots, progress=False)
    other = dataclasses.replace(full_config, train=dataclasses.replace(full_config.train, lr_head=0.5))
    with pytest.raises(InputError, match=r"other settings \(train.lr_head: 0.001 -> 0.5\)"):
        train(other, tmp_path / "split", roots, resume=True, progress=False)
    tracking_only = dataclasses.replace(full_config, tracker=dataclasses.replace(  # settings training never reads
        full_config.tracker, redetect_threshold=0.3, redetect_accept=0.5))
    resumed = train(tracking_only, tmp_path / "split", roots, resume=True, progress=False)
    logged = [json.loads(line) for line in (tmp_path / "split" / "scalars.jsonl").read_text().splitlines()]
    steps = [entry["step"] for entry in logged if "lr/head" in entry]
    assert steps == sorted(set(steps)), "a resumed run must not log a step twice"
    def losses(summaries):
        return [{k: v for k, v in s.items() if "samples_per_s" not in k} for s in summaries]

    assert losses(resumed) == losses(history)
    full = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=True)
    split = torch.load(tmp_path / "split" / "checkpoint.pt", weights_only=True)
    for key, value in full["net"].items():
        torch.testing.assert_close(split["net"][key], value, rtol=0, atol=0, msg=key)

    exported = tmp_path / "model.pth"
    assert main(["export-inference", str(tmp_path / "full" / "checkpoint.pt"), "--out", str(exported)]) == 0
    stored = torch.load(exported, weights_only=True)
    assert {k.split(".")[0] for k in stored["net"]} == {"rgb_branch", "tir_branch", "box_head"}
    model, _ = load_model(exported, MICRO)
    rebuilt, rebuilt_config = load_model(exported)
    assert rebuilt_config.model.embed_dim == 32
    torch.testing.assert_close(rebuilt.box_head.conv1_ctr[0].weight, full["net"]["box_head.conv1_ctr.0.weight"])
    torch.testing.assert_close(model.rgb_branch.pos_embed_x, full["net"]["rgb_branch.pos_embed_x"])


def test_head_stage_trains_only_the_fused_head(tmp_path, synthetic_root):
    stage1 = tmp_path / "stage1.pth"
    torch.manual_seed(1)
    teacher_model = CKD(MICRO, with_teachers=True)
    torch.save({"net": teacher_model.state_dict()}, stage1)
    config = load_config(micro_config(tmp_path / "mce.yaml", stage="head", epochs=1, mask_probability=0.0))
    config = dataclasses.replace(config, model=dataclasses.replace(config.model, ce_layers=(0,)))
    train(config, tmp_path / "out", {"synthetic": str(synthetic_root)}, init=stage1, progress=False)
    state = torch.load(tmp_path / "out" / "checkpoint.pt", weights_only=True)["net"]
    assert not any(k.startswith("teacher") for k in state)
    initial = teacher_model.state_dict()
    assert torch.equal(state["rgb_branch.blocks.1.mlp.fc2.weight"], initial["rgb_branch.blocks.1.mlp.fc2.weight"])
    assert not torch.equal(state["box_head.conv5_ctr.weight"], initial["box_head.conv5_ctr.weight"])


def fake_droptrack(config: Config) -> dict:
    """A DropTrack-style checkpoint: a single-modality tracker at a larger crop size."""
    torch.manual_seed(5)
    tracker = CKD(dataclasses.replace(config, crop=CropConfig(template_size=48, search_size=96)))
    state = {f"backbone.{k}": v for k, v in tracker.rgb_branch.state_dict().items()}
    state["backbone.temporal_pos_embed_z"] = torch.randn(1, 1, config.model.embed_dim)
    state["backbone.temporal_pos_embed_x"] = torch.randn(1, 1, config.model.embed_dim)
    head = CKD(config, with_teachers=True).box_head_v.state_dict()
    state.update({f"box_head.{k}": torch.randn_like(v) if v.is_floating_point() else v for k, v in head.items()})
    return state


def test_init_from_droptrack_converts_embeddings_and_duplicates_the_head(tmp_path):
    source = fake_droptrack(MICRO)
    path = tmp_path / "DropTrack_fake.pth.tar"
    torch.save({"net": source}, path)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    model = CKD(MICRO, with_teachers=True)
    assert load_initial_weights(model, path, digest) == "tracker"
    expected_x = resize_grid_embedding(source["backbone.pos_embed_x"], 4) + source["backbone.temporal_pos_embed_x"]
    expected_z = resize_grid_embedding(source["backbone.pos_embed_z"], 2) + source["backbone.temporal_pos_embed_z"]
    for branch in ("rgb_branch", "tir_branch", "teacher_rgb", "teacher_tir"):
        vit = getattr(model, branch)
        torch.testing.assert_close(vit.pos_embed_x, expected_x)
        torch.testing.assert_close(vit.pos_embed_z, expected_z)
        torch.testing.assert_close(vit.blocks[1].attn.qkv.weight, source["backbone.blocks.1.attn.qkv.weight"])
    first = source["box_head.conv1_size.0.weight"]
    torch.testing.assert_close(model.box_head.conv1_size[0].weight, torch.cat([first, first], dim=1))
    torch.testing.assert_close(model.box_head.conv2_size[0].weight, source["box_head.conv2_size.0.weight"])
    torch.testing.assert_close(model.box_head_i.conv1_size[0].weight, first)
    with pytest.raises(InputError, match="sha256"):
        load_initial_weights(model, path, "0" * 64)


def test_init_from_mae_resizes_the_imagenet_grid(tmp_path):
    torch.manual_seed(6)
    vit = CKD(MICRO).rgb_branch.state_dict()
    source = {k: torch.randn_like(v) for k, v in vit.items() if k not in ("pos_embed_z", "pos_embed_x")}
    source["mask_token"] = torch.zeros(1, 1, 32)
    source["decoder_embed.weight"] = torch.zeros(16, 32)
    path = tmp_path / "mae.pth"
    torch.save({"model": source}, path)
    model = CKD(MICRO, with_teachers=True)
    head_before = model.box_head.conv1_ctr[0].weight.clone()
    assert load_initial_weights(model, path) == "mae"
    grid = source["pos_embed"][:, 1:]
    torch.testing.assert_close(model.teacher_rgb.pos_embed_x, resize_grid_embedding(grid, 4))
    torch.testing.assert_close(model.tir_branch.pos_embed_z, resize_grid_embedding(grid, 2))
    torch.testing.assert_close(model.tir_branch.norm.weight, source["norm.weight"])
    torch.testing.assert_close(model.box_head.conv1_ctr[0].weight, head_before)


def test_init_rejects_foreign_and_misshapen_checkpoints(tmp_path):
    model = CKD(MICRO, with_teachers=True)
    foreign = tmp_path / "foreign.pth"
    torch.save({"net": {"encoder.weight": torch.zeros(2)}}, foreign)
    with pytest.raises(InputError, match="foreign.pth.*unrecognised"):
        load_initial_weights(model, foreign)
    big = tmp_path / "vitb.pth"
    torch.save({"net": fake_droptrack(Config(model=ModelConfig(embed_dim=48, depth=2, num_heads=2, head_channels=16),
                                             crop=MICRO.crop))}, big)
    with pytest.raises(InputError, match="vitb.pth.*wrong shapes"):
        load_initial_weights(model, big)


def test_cli_reports_bad_input_in_one_line(tmp_path, synthetic_root, capsys):
    config = str(micro_config(tmp_path / "micro.yaml"))
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (["--data-root", f"synthetic={synthetic_root}", "--init", str(tmp_path / "missing.pth")], "missing.pth"),
        (["--data-root", f"synthetic={empty}"], "is empty"),
        ([], "no root folder"),
        (["--data-root", f"synthetic={synthetic_root}", "--resume"], "no training checkpoint"),
    ]
    for extra, message in cases:
        assert main(["train", "--config", config, "--out", str(tmp_path / "run"), "--quiet", *extra]) == 2
        err = capsys.readouterr().err
        assert message in err and len(err.strip().splitlines()) == 1
    unknown = micro_config(tmp_path / "unknown.yaml", datasets=[{"name": "nosuchset", "root": str(synthetic_root)}])
    assert main(["train", "--config", str(unknown), "--out", str(tmp_path / "run")]) == 2
    assert "train.datasets[0].name: 'nosuchset' is not a benchmark" in capsys.readouterr().err
