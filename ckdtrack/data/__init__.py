"""RGB-T data: sequences, benchmark readers, training samples, synthetic data."""

from .benchmarks import BENCHMARKS, open_benchmark
from .processing import ProcessingParams
from .sampler import RGBTPairDataset, TrainingSource
from .sequence import RGBTSequence, open_sequence_dir, read_image
from .synth import write_synthetic_dataset

__all__ = [
    "BENCHMARKS", "ProcessingParams", "RGBTPairDataset", "RGBTSequence", "TrainingSource",
    "open_benchmark", "open_sequence_dir", "read_image", "write_synthetic_dataset",
]
