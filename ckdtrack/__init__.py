"""ckdtrack: RGB-thermal tracking with Coupled Knowledge Distillation (CKD)."""

__version__ = "0.1.0"
