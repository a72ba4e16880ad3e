"""CKD network: ViT backbones, CENTER head, two-student fusion with MCE, checkpoints."""

from .checkpoint import load_model, load_weights, read_checkpoint
from .ckd import CKD
from .head import CenterHead
from .vit import VisionTransformer

__all__ = ["CKD", "CenterHead", "VisionTransformer", "load_model", "load_weights", "read_checkpoint"]
