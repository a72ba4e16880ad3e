"""The four-branch training forward, losses and gradients against the published implementation."""

from __future__ import annotations

import json

import pytest
import torch

from ckdtrack.config import Config, TrainConfig
from ckdtrack.models import CKD
from ckdtrack.training.objective import TrainingNetwork, compute_losses
from golden import deterministic_state_dict, golden_path, load_golden

pytestmark = pytest.mark.golden

BRANCH_LAYERS = {
    "student_rgb": lambda out: out["layers_rgb"],
    "student_tir": lambda out: out["layers_tir"],
    "teacher_rgb": lambda out: out["teacher_rgb"]["layers"],
    "teacher_tir": lambda out: out["teacher_tir"]["layers"],
}


@pytest.fixture(scope="module")
def train_step():
    """One forward and backward of the golden batch (train mode, BatchNorm in eval mode)."""
    golden = load_golden("train_step.pt")
    model = CKD(Config(), with_teachers=True)
    model.load_state_dict(deterministic_state_dict("manifest_train.json"))
    model.train()
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.eval()
    batch = {key: golden[key] for key in ("template_rgb", "template_tir", "search_rgb", "search_tir")}
    outputs = TrainingNetwork(model, "distill")(batch)
    loss, status = compute_losses(outputs, golden["search_anno"][-1], TrainConfig(), model.config.search_grid)
    loss.backward()
    return golden, model, outputs, loss, status


def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    return abs(actual.item() - expected.item()) / max(abs(expected.item()), 1e-12)


def test_losses_match_published_actor(train_step):
    golden, _, _, loss, status = train_step
    assert relative_error(loss, golden["loss_total"]) < 1e-4
    keys = [key for key in golden if key.startswith("status/")]
    assert len(keys) == 7
    for key in keys:
        expected = golden[key]
        actual = status[key[len("status/"):]]
        if expected.item() == 0:
            assert abs(actual.item()) < 1e-6, key
        else:
            assert relative_error(actual, expected) < 1e-4, key


def test_head_outputs_and_layer_features_match(train_step):
    golden, _, outputs, _, _ = train_step
    torch.testing.assert_close(outputs["student"]["pred_boxes"], golden["pred_boxes"], atol=1e-4, rtol=0)
    torch.testing.assert_close(outputs["student"]["score_map"], golden["score_map"], atol=1e-4, rtol=0)
    for name in ("teacher_rgb", "teacher_tir"):
        torch.testing.assert_close(outputs[name]["pred_boxes"], golden[f"{name}_pred_boxes"], atol=1e-4, rtol=0)
    for name, layers_of in BRANCH_LAYERS.items():
        layers = torch.stack(layers_of(outputs)).detach()
        assert layers.shape[0] == 12
        torch.testing.assert_close(layers[:, :, :8], golden[f"{name}_layer_feats_first8tokens"], atol=1e-4, rtol=0)
        torch.testing.assert_close(layers.mean(dim=2), golden[f"{name}_layer_feats_token_mean"], atol=1e-4, rtol=0)


def test_gradient_norms_per_module_group(train_step):
    _, model, _, _, _ = train_step
    expected = json.loads(golden_path("train_step_gradnorms.json").read_text())
    for group, norm in expected.items():
        grads = [p.grad.double() for p in getattr(model, group).parameters() if p.grad is not None]
        actual = torch.sqrt(sum((g ** 2).sum() for g in grads)).item()
        assert abs(actual - norm) / norm < 1e-3, group
