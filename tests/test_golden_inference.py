"""The inference network and the online tracker reproduce the published implementation."""

import json

import pytest
import torch

from ckdtrack.config import load_config
from ckdtrack.data import open_sequence_dir
from ckdtrack.models import CKD
from ckdtrack.tracking import CKDTracker
from golden import deterministic_state_dict, golden_path, load_golden

pytestmark = pytest.mark.golden

VARIANTS = {"noce": "ckd_vitb", "ce": "ckd_vitb_mce"}


@pytest.fixture(scope="module")
def infer_state():
    return deterministic_state_dict("manifest_infer.json")


def golden_model(config_name, state):
    config = load_config(config_name)
    model = CKD(config).eval()
    model.load_state_dict(state, strict=True)
    return config, model


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_forward_matches_golden(variant, infer_state):
    golden = load_golden(f"forward_{variant}.pt")
    _, model = golden_model(VARIANTS[variant], infer_state)
    mask = golden["ce_template_mask"] if golden["ce_template_mask"].numel() else None
    with torch.no_grad():
        out = model(golden["template_rgb"], golden["template_tir"], golden["search_rgb"], golden["search_tir"], mask)
    for key in ("score_map", "size_map", "offset_map", "pred_boxes", "backbone_feat"):
        assert out[key].shape == golden[key].shape, key
        torch.testing.assert_close(out[key], golden[key], atol=1e-4, rtol=0, msg=key)
    if "kept_search_index" in golden:
        assert torch.equal(out["kept_search_index"], golden["kept_search_index"])
    else:
        assert out["kept_search_index"].shape[1] == 256


def test_mce_keeps_the_published_token_counts(infer_state):
    golden = load_golden("forward_ce.pt")
    _, model = golden_model("ckd_vitb_mce", infer_state)
    with torch.no_grad():
        out = model(golden["template_rgb"], golden["template_tir"], golden["search_rgb"], golden["search_tir"],
                    golden["ce_template_mask"])
    kept = out["kept_search_index"][0]
    assert kept.numel() == 89 and kept.unique().numel() == 89
    search = out["backbone_feat"][0, 64:]
    removed = torch.ones(256, dtype=torch.bool)
    removed[kept] = False
    assert torch.all(search[removed] == 0) and torch.all(search[kept].abs().sum(1) > 0)


def track_golden_sequence(variant, state, tolerance, frames=None, **tracker_options):
    """Track the golden sequence (its first ``frames``, default all), asserting every box within
    ``tolerance`` px of the published one."""
    sequence = open_sequence_dir(golden_path("tracker_seq"))
    expected = json.loads(golden_path("tracker_boxes.json").read_text())[variant]["boxes"]
    assert len(expected) == len(sequence)
    config, model = golden_model(VARIANTS[variant], state)
    tracker = CKDTracker(model, config, **tracker_options)
    tracker.init(*sequence.frame_pair(0), sequence.boxes[0])
    for index in range(1, frames or len(sequence)):
        result = tracker.update(*sequence.frame_pair(index))
        assert result.box == pytest.approx(expected[index], abs=tolerance), f"frame {index + 1}"
        assert 0.0 < result.score < 1.0


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_tracker_reproduces_golden_boxes(variant, infer_state):
    track_golden_sequence(variant, infer_state, tolerance=0.05)


@pytest.mark.slow
@pytest.mark.parametrize("variant,options", [("ce", {"compile": True}), ("noce", {"precision": "fp16"})],
                         ids=["ce-compiled", "noce-fp16"])
def test_numerics_changing_modes_keep_golden_boxes_within_1px(variant, options, infer_state):
    """The 1 px bar for modes that are not bit-exact fp32 eager, on the first frames (fp16 is
    emulated on CPUs, minutes per sequence). fp16 with MCE and bf16 miss it on these random
    weights, whose MCE keep boundary is a 1e-5 relative near-tie (docs/benchmarks.md): those
    modes are documented as not exact rather than re-confirmed here."""
    track_golden_sequence(variant, infer_state, tolerance=1.0, frames=5, **options)
