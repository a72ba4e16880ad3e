"""RGB-T data: sequences, benchmark readers, training samples, synthetic data.

The package itself imports nothing heavy: readers and generators work without torch, so the
commands that only read or write data (``eval``, ``synth``) start fast. Import the training
sampler from :mod:`ckdtrack.data.sampler`.
"""

from .sequence import RGBTSequence, open_sequence_dir, read_image

__all__ = ["RGBTSequence", "open_sequence_dir", "read_image"]
