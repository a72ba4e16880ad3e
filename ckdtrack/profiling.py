"""Honest speed accounting: parameters, MACs, forward latency, end-to-end FPS, machine peak.

Used by ``ckdtrack profile`` and ``benchmarks/bench_inference.py``. MACs are counted by
PyTorch's FLOP counter on the real forward (matmuls, convolutions and attention), so candidate
elimination shows up as fewer MACs, not as an assumption.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from .models.ckd import CKD, NetworkShape, center_template_mask


def machine_description(device: str = "cpu") -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        hardware = torch.cuda.get_device_name(torch.device(device))
    else:
        hardware = _cpu_model()
    return (f"{hardware}; {os.cpu_count()} cores; torch {torch.__version__}; "
            f"{torch.get_num_threads()} threads; {platform.python_implementation()} {platform.python_version()}")


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def example_inputs(shape: NetworkShape, device: str = "cpu", batch: int = 1, seed: int = 0):
    """Random normalised template/search crops of the network's sizes, plus the MCE template mask."""
    generator = torch.Generator().manual_seed(seed)
    template = [torch.randn(batch, 3, shape.template_size, shape.template_size, generator=generator) for _ in range(2)]
    search = [torch.randn(batch, 3, shape.search_size, shape.search_size, generator=generator) for _ in range(2)]
    mask = center_template_mask(shape, batch) if shape.ce_layers else None
    tensors = [t.to(device) for t in (*template, *search)]
    return (*tensors, mask.to(device) if mask is not None else None)


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: CKD, inputs) -> float:
    """Multiply-accumulates of one inference forward (FLOPs / 2)."""
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(*inputs)
    return counter.get_total_flops() / 2


def _synchronize(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()


def time_call(fn, device: str = "cpu", warmup: int = 3, runs: int = 20) -> float:
    """Median wall time of ``fn()`` in seconds after warm-up."""
    for _ in range(warmup):
        fn()
    _synchronize(device)
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        _synchronize(device)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def forward_latency(model: CKD, inputs, precision: str = "fp32", device: str = "cpu",
                    warmup: int = 3, runs: int = 20) -> float:
    from .tracking.tracker import autocast_context

    def forward():
        with torch.inference_mode(), autocast_context(torch.device(device), precision):
            model(*inputs)

    return time_call(forward, device, warmup, runs)


def matmul_peak_flops(device: str = "cpu", dtype: torch.dtype = torch.float32, size: int = 2048,
                      runs: int = 10) -> float:
    """Best achieved FLOP/s of a large square matmul: this machine's practical peak.

    ``torch.mm`` and ``F.linear`` reach different kernels (BLAS, oneDNN) whose speed differs by
    up to 20x per dtype on CPUs, so the faster of the two, picked on a small probe, is timed.
    """
    a = torch.randn(size, size, device=device, dtype=dtype)
    b = torch.randn(size, size, device=device, dtype=dtype)
    probe_a, probe_b = a[:512, :512].contiguous(), b[:512, :512].contiguous()
    kernel = min((torch.mm, F.linear),
                 key=lambda fn: time_call(lambda: fn(probe_a, probe_b), device, warmup=1, runs=2))
    best = min(time_call(lambda: kernel(a, b), device, warmup=1, runs=1) for _ in range(runs))
    return 2 * size ** 3 / best


def write_jpeg_sequence(folder: Path, frames: int = 30, size: tuple[int, int] = (640, 480), seed: int = 0) -> Path:
    """A moving textured square in JPEG RGB + thermal folders: realistic decode cost for FPS."""
    rng = np.random.default_rng(seed)
    width, height = size
    background = cv2.GaussianBlur(rng.integers(0, 255, (height, width, 3), dtype=np.uint8), (0, 0), 3)
    patch = rng.integers(0, 255, (60, 80, 3), dtype=np.uint8)
    for name in ("visible", "infrared"):
        (folder / name).mkdir(parents=True, exist_ok=True)
    boxes = []
    for index in range(frames):
        x, y = 200 + 4 * index, 180 + 2 * index
        image = background.copy()
        image[y:y + 60, x:x + 80] = patch
        boxes.append(f"{x},{y},80,60")
        cv2.imwrite(str(folder / "visible" / f"{index:06d}.jpg"), image)
        cv2.imwrite(str(folder / "infrared" / f"{index:06d}.jpg"), 255 - image)
    (folder / "init.txt").write_text("\n".join(boxes) + "\n")
    return folder


def profile_tracking(tracker, frames: int = 30):
    """Track a generated JPEG sequence twice (the first run warms up); the second run's timings.

    The returned :class:`~ckdtrack.tracking.runner.TrackingRun` has end-to-end and model-only
    FPS and the time per stage (decode, crop, normalize, forward, postprocess).
    """
    from .data.sequence import open_sequence_dir
    from .tracking.frames import sequence_source
    from .tracking.runner import run_tracker

    with tempfile.TemporaryDirectory() as tmp:
        sequence = open_sequence_dir(write_jpeg_sequence(Path(tmp) / "bench", frames))
        run_tracker(tracker, sequence_source(sequence), progress=False)
        return run_tracker(tracker, sequence_source(sequence), progress=False)


def stage_table(run) -> list[str]:
    """Markdown rows: milliseconds per tracked frame and share of the end-to-end time, per stage."""
    per_frame = {stage: seconds / run.tracked_frames for stage, seconds in run.stage_seconds.items()}
    total = run.tracking_seconds / run.tracked_frames
    per_frame["other (checks, loop)"] = max(total - sum(per_frame.values()), 0.0)
    rows = ["| stage | ms per frame | share |", "|---|---|---|"]
    rows += [f"| {stage} | {seconds * 1e3:.2f} | {100 * seconds / total:.1f}% |" for stage, seconds in per_frame.items()]
    rows.append(f"| end to end | {total * 1e3:.2f} | 100% |")
    return rows
