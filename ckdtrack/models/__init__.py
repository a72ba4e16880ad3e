"""CKD network: ViT backbones, CENTER head, two-student fusion with MCE, checkpoints."""

from __future__ import annotations

from pathlib import Path

from .checkpoint import load_weights, read_checkpoint
from .ckd import CKD, NetworkShape
from .head import CenterHead
from .vit import VisionTransformer

__all__ = ["CKD", "CenterHead", "NetworkShape", "VisionTransformer", "build_model", "load_weights", "read_checkpoint"]


def build_model(shape: NetworkShape, weights: str | Path | None = None, with_teachers: bool = False,
                sha256: str | None = None) -> CKD:
    """A CKD network, with ``weights`` (an inference or training checkpoint) loaded strictly."""
    model = CKD(shape, with_teachers=with_teachers)
    if weights is not None:
        load_weights(model, weights, sha256)
    return model
