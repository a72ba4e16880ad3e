"""Training samples per second from a synthetic LasHeR-layout folder, with JPEG decoding.

Writes (or reuses) synthetic sequences at LasHeR's 640x480, then times a DataLoader over
:class:`ckdtrack.data.sampler.RGBTPairDataset` with the paper's processing (template 128 px,
search 256 px, full augmentation) for several worker counts.

    python benchmarks/bench_loader.py --workers 0 1 2
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from torch.utils.data import DataLoader

from ckdtrack.data.benchmarks import open_benchmark
from ckdtrack.data.sampler import RGBTPairDataset, TrainingSource
from ckdtrack.data.synth import write_synthetic_dataset


def samples_per_second(dataset, workers: int, batch_size: int, batches: int) -> float:
    iterator = iter(DataLoader(dataset, batch_size=batch_size, num_workers=workers))
    next(iterator)  # worker start-up and first batch are not steady state
    start = time.perf_counter()
    for _ in range(batches):
        next(iterator)
    return batches * batch_size / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, help="synthetic dataset folder (written if missing)")
    parser.add_argument("--size", default="640x480", help="frame size WxH (default LasHeR's 640x480)")
    parser.add_argument("--sequences", type=int, default=4)
    parser.add_argument("--frames", type=int, default=100)
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--batches", type=int, default=8)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        data = args.data or Path(scratch) / "synth"
        if not (data / "train.txt").is_file():
            width, height = (int(v) for v in args.size.split("x"))
            start = time.perf_counter()
            write_synthetic_dataset(data, args.sequences, args.frames, (width, height), seed=0, test_fraction=0)
            print(f"wrote {args.sequences} x {args.frames} frames at {args.size} in {time.perf_counter() - start:.1f} s")
        sequences = open_benchmark("lasher", data, split="train")
        dataset = RGBTPairDataset([TrainingSource("synth", sequences)], 100_000, seed=0)
        print(f"cpu cores: {os.cpu_count()}, batch {args.batch_size}, {args.batches} batches timed")
        for workers in args.workers:
            rate = samples_per_second(dataset, workers, args.batch_size, args.batches)
            print(f"jpeg  workers={workers}  {rate:7.1f} samples/s")


if __name__ == "__main__":
    main()
