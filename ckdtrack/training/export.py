"""Turning a training checkpoint into the inference checkpoint the tracker loads.

The inference file is ``{'net': state_dict, 'config': config_dict}``: the two students and the
fused head in the published key layout (so :func:`ckdtrack.models.load_model` and the
published tooling load it), plus the config, so that a model of any size can be rebuilt from
the file alone. Training-only parts (the teachers and their heads; the big teacher's feature
projector, which training checkpoints keep beside ``net``) are left out. The kept weights are
loaded into a network of that config before anything is written, so a checkpoint that does
not fit is refused instead of exported.
"""

from __future__ import annotations

from pathlib import Path

from ..config import Config, config_for_weights
from ..errors import InputError
from ..io import atomic_torch_save
from ..models import CKD
from ..models.checkpoint import extract_state_dict, load_state_strict, read_checkpoint

INFERENCE_PREFIXES = ("rgb_branch.", "tir_branch.", "box_head.")


def export_inference(checkpoint: str | Path, out: str | Path, config: str | Path | Config | None = None) -> Path:
    """Write the students + fused head of ``checkpoint`` to ``out``; returns ``out``."""
    state = read_checkpoint(checkpoint)
    net = extract_state_dict(state, checkpoint)
    inference = {k: v for k, v in net.items() if k.startswith(INFERENCE_PREFIXES)}
    if not any(k.startswith("box_head.") for k in inference) or not any(k.startswith("rgb_branch.") for k in inference):
        raise InputError(f"{checkpoint}: no CKD students and fused head (rgb_branch.*, box_head.*) found")
    resolved = config_for_weights(config, state.get("config"), checkpoint)
    load_state_strict(CKD(resolved), inference, checkpoint)
    atomic_torch_save({"net": inference, "config": resolved.to_dict()}, out)
    return Path(out)
