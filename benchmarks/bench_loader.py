"""Training samples per second from a synthetic LasHeR-layout folder, with JPEG decoding.

Writes (or reuses) synthetic sequences at LasHeR's 640x480, then times a DataLoader over
:class:`ckdtrack.data.sampler.RGBTPairDataset` with the paper's processing (template 128 px,
search 256 px, full augmentation) for several worker counts, decoding JPEGs and, with
``--cache``, reading pre-decoded memory-mapped frames instead.

    python benchmarks/bench_loader.py --workers 0 1 2 --cache
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from torch.utils.data import DataLoader

from ckdtrack.data.benchmarks import open_benchmark
from ckdtrack.data.cache import FrameCache
from ckdtrack.data.sampler import RGBTPairDataset, TrainingSource, loader_worker_init
from ckdtrack.data.synth import write_synthetic_dataset


def samples_per_second(dataset, workers: int, batch_size: int, batches: int) -> float:
    loader = DataLoader(dataset, batch_size=batch_size, num_workers=workers, worker_init_fn=loader_worker_init)
    iterator = iter(loader)
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
    parser.add_argument("--cache", action="store_true", help="also time the memory-mapped frame cache")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        data = args.data or Path(scratch) / "synth"
        if not (data / "train.txt").is_file():
            width, height = (int(v) for v in args.size.split("x"))
            start = time.perf_counter()
            write_synthetic_dataset(data, args.sequences, args.frames, (width, height), seed=0, test_fraction=0)
            print(f"wrote {args.sequences} x {args.frames} frames at {args.size} in {time.perf_counter() - start:.1f} s")
        sequences = open_benchmark("lasher", data, split="train")
        readers = {"jpeg": None}
        if args.cache:
            start = time.perf_counter()
            readers["cache"] = FrameCache.build(sequences, Path(scratch) / "cache")
            print(f"built the frame cache in {time.perf_counter() - start:.1f} s")
        print(f"cpu cores: {os.cpu_count()}, batch {args.batch_size}, {args.batches} batches timed")
        for name, reader in readers.items():
            extra = {"frame_reader": reader} if reader is not None else {}
            dataset = RGBTPairDataset([TrainingSource("synth", sequences)], 100_000, seed=0, **extra)
            for workers in args.workers:
                rate = samples_per_second(dataset, workers, args.batch_size, args.batches)
                print(f"{name:>5}  workers={workers}  {rate:7.1f} samples/s")


if __name__ == "__main__":
    main()
