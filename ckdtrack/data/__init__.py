"""RGB-T data: sequences, benchmark readers, training samples, synthetic data."""

from .sequence import RGBTSequence, open_sequence_dir, read_image

__all__ = ["RGBTSequence", "open_sequence_dir", "read_image"]
