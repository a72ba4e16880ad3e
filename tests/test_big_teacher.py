"""Distilling small CKD students from a frozen big CKD teacher (``train.big_teacher``)."""

from __future__ import annotations

import dataclasses
import shutil

import pytest
import torch
import yaml

from ckdtrack.config import Config, CropConfig, ModelConfig, TrainConfig, config_from_dict
from ckdtrack.errors import InputError
from ckdtrack.models import CKD, load_model
from ckdtrack.models.checkpoint import sha256_of
from ckdtrack.training.big_teacher import load_big_teacher, run_big_teacher
from ckdtrack.training.export import export_inference
from ckdtrack.training.objective import TrainingNetwork, compute_losses
from ckdtrack.training.trainer import Trainer, build_training_model, seed_everything
from test_training import MICRO

# Twice the students' width and crop size: the crops are resized, the token grids differ (8x8 vs 4x4).
BIG = Config(name="big_test", model=ModelConfig(embed_dim=64, depth=2, num_heads=2, head_channels=16),
             crop=CropConfig(template_size=64, search_size=128))
ONLY_DISTILLATION = TrainConfig(giou_weight=0.0, l1_weight=0.0, focal_weight=0.0, style_weight=0.0, content_weight=0.0)
ANNO = torch.tensor([[0.4, 0.4, 0.2, 0.2], [0.3, 0.5, 0.25, 0.2]])


@pytest.fixture(scope="module")
def teacher_file(tmp_path_factory):
    """An inference checkpoint of a tiny random big CKD, its config stored inside."""
    torch.manual_seed(11)
    path = tmp_path_factory.mktemp("teacher") / "big.pth"
    torch.save({"net": CKD(BIG).state_dict(), "config": BIG.to_dict()}, path)
    return path


@pytest.fixture(scope="module")
def bare_teacher_file(teacher_file):
    """The teacher's weights without its config, as the published files come."""
    path = teacher_file.with_name("published_layout.pth")
    torch.save({"net": torch.load(teacher_file, weights_only=True)["net"]}, path)
    return path


def student_config(teacher, stage: str = "distill", **train) -> Config:
    """MICRO students distilled from ``teacher``: 2 pairs a batch, 2 batches an epoch."""
    settings = {"stage": stage, "epochs": 2, "samples_per_epoch": 4, "batch_size": 2, "num_workers": 0,
                "device": "cpu", "lr_head": 1e-3, "lr_backbone": 1e-4, "log_interval": 1,
                "big_teacher": str(teacher), **train}
    return config_from_dict({**MICRO.to_dict(), "train": settings})


def random_batch(size: int = 2, seed: int = 0) -> dict:
    generator = torch.Generator().manual_seed(seed)
    batch = {key: torch.randn(size, 3, 32, 32, generator=generator) for key in ("template_rgb", "template_tir")}
    batch.update({key: torch.randn(size, 3, 64, 64, generator=generator) for key in ("search_rgb", "search_tir")})
    return batch


class RandomPairs(torch.utils.data.Dataset):
    """Fixed random samples: a trainer's data without any sequence to read."""

    def __init__(self, count: int, seed: int):
        batch = random_batch(count, seed)
        anno = ANNO.repeat((count + 1) // 2, 1)[:count]
        self.samples = [{**{key: value[i] for key, value in batch.items()}, "search_anno": anno[i]}
                        for i in range(count)]

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        return self.samples[index]

    def set_epoch(self, epoch: int) -> None:
        """The samples are the same in every epoch."""


def trainer(config: Config, out) -> Trainer:
    seed_everything(0)
    return Trainer(config, build_training_model(config), RandomPairs(4, 1), RandomPairs(2, 2), out, progress=False)


def test_distillation_terms_are_positive_and_train_students_head_and_projector_only(teacher_file):
    config = student_config(teacher_file)
    teacher = load_big_teacher(config)
    torch.manual_seed(0)
    network = TrainingNetwork(CKD(MICRO, with_teachers=True), "distill", teacher, project_features=True).train()
    assert not teacher.training and not any(p.requires_grad for p in teacher.parameters())
    loss, status = compute_losses(network(random_batch()), ANNO, ONLY_DISTILLATION, MICRO.search_grid)
    terms = status["Loss/score_distill"], status["Loss/feature_distill"]
    assert all(torch.isfinite(term) and term > 0 for term in terms)
    torch.testing.assert_close(loss.detach(), terms[0] + terms[1])
    loss.backward()
    model = network.model
    for module in (model.rgb_branch, model.tir_branch, model.box_head, network.feature_projector):
        assert sum(p.grad.abs().sum() for p in module.parameters() if p.grad is not None) > 0
    assert all(p.grad is None for p in teacher.parameters())


def test_without_a_big_teacher_or_with_zero_weights_the_loss_is_unchanged(teacher_file):
    torch.manual_seed(0)
    model = CKD(MICRO, with_teachers=True)
    batch = random_batch()
    plain = TrainingNetwork(model, "distill")(batch)
    assert set(plain) == {"student", "layers_rgb", "layers_tir", "teacher_rgb", "teacher_tir"}
    expected, expected_status = compute_losses(plain, ANNO, TrainConfig(), MICRO.search_grid)
    with_teacher = TrainingNetwork(model, "distill", load_big_teacher(student_config(teacher_file)),
                                   project_features=True)(batch)
    weights_off = TrainConfig(score_distill_weight=0.0, feature_distill_weight=0.0)
    loss, status = compute_losses(with_teacher, ANNO, weights_off, MICRO.search_grid)
    assert torch.equal(loss, expected) and status.keys() == expected_status.keys()


def test_training_moves_students_and_projector_keeps_the_teacher_resumes_and_exports(teacher_file, tmp_path):
    config = student_config(teacher_file)
    full = trainer(config, tmp_path / "full")
    teacher_before = {k: v.clone() for k, v in full.network.big_teacher.state_dict().items()}
    projector_before = {k: v.clone() for k, v in full.network.feature_projector.state_dict().items()}
    student_before = full.model.rgb_branch.blocks[0].attn.qkv.weight.clone()
    history = full.fit()
    assert {"train/Loss/score_distill", "train/Loss/feature_distill", "val/Loss/score_distill",
            "val/Loss/feature_distill"} <= set(history[-1])
    for key, value in full.network.big_teacher.state_dict().items():
        assert torch.equal(value, teacher_before[key]), key
    assert not torch.equal(full.model.rgb_branch.blocks[0].attn.qkv.weight, student_before)
    assert all(not torch.equal(v, projector_before[k]) for k, v in full.network.feature_projector.state_dict().items())

    short = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=1))
    trainer(short, tmp_path / "split").fit()
    resumed = trainer(config, tmp_path / "split")
    resumed.resume()
    resumed.fit()
    saved = [torch.load(tmp_path / run / "checkpoint.pt", weights_only=True) for run in ("full", "split")]
    assert set(saved[0]) == {"net", "optimizer", "scaler", "epoch", "step", "history", "config", "projector",
                             "big_teacher_sha256"}
    for part in ("net", "projector"):
        for key, value in saved[0][part].items():
            assert torch.equal(saved[1][part][key], value), f"{part}.{key}"

    exported = export_inference(tmp_path / "full" / "checkpoint.pt", tmp_path / "small.pth")
    stored = torch.load(exported, weights_only=True)
    assert {key.split(".")[0] for key in stored["net"]} == {"rgb_branch", "tir_branch", "box_head"}
    model, model_config = load_model(exported)
    assert model_config.model.embed_dim == MICRO.model.embed_dim
    torch.testing.assert_close(model.box_head.conv5_ctr.weight, full.model.box_head.conv5_ctr.weight)


def test_resuming_with_another_teacher_file_is_refused(teacher_file, tmp_path, monkeypatch):
    from ckdtrack.training import trainer as trainer_module

    teacher = tmp_path / "teacher.pth"
    shutil.copyfile(teacher_file, teacher)
    config = student_config(teacher, epochs=1)
    hashed = []
    monkeypatch.setattr(trainer_module, "sha256_of", lambda path: hashed.append(path) or sha256_of(path))
    trainer(config, tmp_path / "run").fit()
    assert hashed == [str(teacher)]  # once per run, not per step or checkpoint
    recorded = torch.load(tmp_path / "run" / "checkpoint.pt", weights_only=True)["big_teacher_sha256"]
    assert recorded == sha256_of(teacher_file)
    trainer(config, tmp_path / "run").resume()  # the same file resumes

    torch.manual_seed(12)
    torch.save({"net": CKD(BIG).state_dict(), "config": BIG.to_dict()}, teacher)
    with pytest.raises(InputError, match=rf"train.big_teacher: .*teacher.pth: sha256 {sha256_of(teacher)[:12]} "
                                         rf"differs from that of the teacher file .*checkpoint.pt was trained with "
                                         rf"\({recorded[:12]}\)") as error:
        trainer(config, tmp_path / "run").resume()
    assert "\n" not in str(error.value)


def test_head_stage_distils_the_score_map_into_the_fused_head(teacher_file):
    with pytest.raises(InputError, match="train.feature_distill_weight: 1.0 must be 0 in stage 'head'"):
        student_config(teacher_file, stage="head")
    config = student_config(teacher_file, stage="head", feature_distill_weight=0.0)
    torch.manual_seed(0)
    model = CKD(dataclasses.replace(MICRO, model=dataclasses.replace(MICRO.model, ce_layers=(0,))))
    network = TrainingNetwork(model, "head", load_big_teacher(config))
    loss, status = compute_losses(network(random_batch()), ANNO, ONLY_DISTILLATION, MICRO.search_grid)
    assert "Loss/feature_distill" not in status and status["Loss/score_distill"] > 0
    loss.backward()
    assert sum(p.grad.abs().sum() for p in model.box_head.parameters()) > 0
    assert all(p.grad is None for p in model.rgb_branch.parameters())


def test_a_teacher_without_stored_config_takes_the_named_one_and_runs_without_elimination(
        teacher_file, bare_teacher_file, tmp_path):
    mce = BIG.to_dict()
    mce["model"]["ce_layers"] = [0]
    named = tmp_path / "big_mce.yaml"
    named.write_text(yaml.safe_dump(mce))
    batch = random_batch()
    dense = run_big_teacher(load_big_teacher(student_config(teacher_file)), batch)
    named_config = student_config(bare_teacher_file, big_teacher_config=str(named))
    with_mce = run_big_teacher(load_big_teacher(named_config), batch)
    torch.testing.assert_close(with_mce["score_map"], dense["score_map"])
    assert dense["search_tokens"].shape == (2, 64, 2 * BIG.model.embed_dim)


def test_bad_teacher_settings_stop_with_one_line_errors(teacher_file, bare_teacher_file, tmp_path):
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"not a checkpoint")
    wide = dataclasses.replace(student_config(teacher_file), crop=dataclasses.replace(MICRO.crop, search_factor=5.0))
    broken_config = tmp_path / "broken_config.pth"
    stored = torch.load(teacher_file, weights_only=True)
    torch.save({**stored, "config": {**stored["config"], "model": {"depth": "deep"}}}, broken_config)
    cases = [
        (lambda: load_big_teacher(student_config(tmp_path / "missing.pth")), r"train.big_teacher: .*missing.pth: "
                                                                              r"weights file not found"),
        (lambda: load_big_teacher(student_config(corrupt)), r"train.big_teacher: .*corrupt.pth: not a readable"),
        (lambda: load_big_teacher(wide), r"big.pth: its crops span 2x/4x .* the students' 2x/5x"),
        (lambda: load_big_teacher(student_config(bare_teacher_file)),  # a setting, not the CLI's --config
         r"train.big_teacher: .*published_layout.pth: checkpoint does not match .* ckd_vitb was assumed: "
         r"set train.big_teacher_config\]$"),
        (lambda: load_big_teacher(student_config(broken_config)),
         r"train.big_teacher: .*broken_config.pth \(stored config; set train.big_teacher_config to override\)"),
        (lambda: student_config(teacher_file, score_distill_weight=0.0, feature_distill_weight=0.0),
         "train.big_teacher: .* both 0"),
        (lambda: student_config(teacher_file, score_distill_weight=-1.0), "train.score_distill_weight: -1.0 must not"),
        (lambda: student_config("", big_teacher_config="ckd_vitb"),
         "train.big_teacher_config: 'ckd_vitb' is set but train.big_teacher is empty"),
    ]
    for build, message in cases:
        with pytest.raises(InputError, match=message) as error:
            build()
        assert "\n" not in str(error.value)
