"""Turning a training checkpoint into the inference checkpoint the tracker loads.

The inference file is ``{'net': state_dict, 'config': config_dict}``: the two students and the
fused head in the published key layout (so ``build_model(shape, weights=FILE)`` and the
published tooling load it), plus the training config, so that a model of any size (e.g. the
tiny synthetic one) can be rebuilt from the file alone.
"""

from __future__ import annotations

from pathlib import Path

from ..config import Config, config_for_weights
from ..errors import InputError
from ..io import atomic_torch_save
from ..models import CKD, build_model
from ..models.checkpoint import extract_state_dict, load_state_strict, read_checkpoint

INFERENCE_PREFIXES = ("rgb_branch.", "tir_branch.", "box_head.")


def export_inference(checkpoint: str | Path, out: str | Path) -> Path:
    """Write the students + fused head of ``checkpoint`` to ``out``; returns ``out``."""
    state = read_checkpoint(checkpoint)
    net = extract_state_dict(state, checkpoint)
    inference = {k: v for k, v in net.items() if k.startswith(INFERENCE_PREFIXES)}
    if not any(k.startswith("box_head.") for k in inference) or not any(k.startswith("rgb_branch.") for k in inference):
        raise InputError(f"{checkpoint}: no CKD students and fused head (rgb_branch.*, box_head.*) found")
    exported = {"net": inference}
    if isinstance(state.get("config"), dict):
        exported["config"] = state["config"]
    atomic_torch_save(exported, out)
    return Path(out)


def load_inference_model(path: str | Path, config: Config | None = None) -> tuple[CKD, Config]:
    """The inference network of an exported file, its shape taken from the stored config
    (or from ``config`` when given)."""
    checkpoint = read_checkpoint(path)
    config = config_for_weights(config, checkpoint.get("config"), path)
    model = build_model(config.network_shape())
    load_state_strict(model, extract_state_dict(checkpoint, path), path)
    return model, config
