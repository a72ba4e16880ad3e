"""Deterministic weights and file access for the golden-vector tests (see shared/golden/README.md)."""

from __future__ import annotations

import json
import os
import zlib
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
GOLDEN_DIR_REQUESTED = "CKDTRACK_GOLDEN_DIR" in os.environ
GOLDEN_DIR = Path(os.environ.get("CKDTRACK_GOLDEN_DIR", REPO.parent / "shared" / "golden"))


def golden_path(name: str) -> Path:
    """A golden file; a missing one skips the test, unless CKDTRACK_GOLDEN_DIR names the folder
    explicitly (as CI does): then it fails, so a wrong path can never turn the suite green."""
    path = GOLDEN_DIR / name
    if not path.exists():
        message = f"golden file {path} not found"
        if GOLDEN_DIR_REQUESTED:
            pytest.fail(f"{message} (CKDTRACK_GOLDEN_DIR={GOLDEN_DIR})")
        pytest.skip(f"{message} (set CKDTRACK_GOLDEN_DIR)")
    return path


def load_golden(name: str) -> dict:
    return torch.load(golden_path(name), map_location="cpu", weights_only=True)


def deterministic_value(name: str, shape: list[int]) -> torch.Tensor:
    """The recipe of the golden README: a per-name generator, then the first matching rule."""
    generator = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    base = torch.randn(shape, generator=generator, dtype=torch.float32)
    one_d_norm = len(shape) == 1 and (
        name.endswith(("norm1.weight", "norm2.weight", "norm.weight"))
        or ("box_head" in name and ".1.weight" in name)
    )
    if name.endswith("running_var"):
        return 1 + 0.1 * base.abs()
    if name.endswith("running_mean"):
        return 0.1 * base
    if one_d_norm:
        return 1 + 0.1 * base
    if name.endswith("conv5_size.weight"):
        return 0.002 * base
    if name.endswith("conv5_size.bias"):
        return -1.5 + 0.02 * base
    if "box_head" in name and len(shape) == 4:
        return 0.05 * base
    return 0.02 * base


def deterministic_state_dict(manifest: str) -> dict[str, torch.Tensor]:
    entries = json.loads(golden_path(manifest).read_text())
    state = {}
    for name, shape in entries:
        if name.endswith("num_batches_tracked"):
            state[name] = torch.zeros(shape, dtype=torch.long)
        else:
            state[name] = deterministic_value(name, shape)
    return state
