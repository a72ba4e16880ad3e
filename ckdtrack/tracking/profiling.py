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

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from ..data.sequence import open_sequence_dir
from ..data.synth import write_synthetic_dataset
from ..models.ckd import CKD
from ..models.runtime import autocast_context
from .frames import sequence_source
from .runner import run_tracker

PROFILE_FRAME_SIZE = (640, 480)  # a common RGB-T camera resolution: realistic decode and crop cost


def machine_description(device: str = "cpu") -> str:
    if device.startswith("cuda") and torch.cuda.is_available():
        hardware = torch.cuda.get_device_name(torch.device(device))
    else:
        hardware = cpu_model()
    return (f"{hardware}; {os.cpu_count()} cores; torch {torch.__version__}; "
            f"{torch.get_num_threads()} threads; {platform.python_implementation()} {platform.python_version()}")


def cpu_model() -> str:
    """The processor's marketing name, for the machine line of every speed report."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


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


def profile_tracking(tracker, frames: int = 30):
    """Track a generated 640x480 JPEG sequence twice (the first run warms up); the second run's
    timings: a :class:`~ckdtrack.tracking.runner.TrackingRun` with end-to-end and model-only FPS
    and the time per step (decode, crop, normalize, forward, postprocess)."""
    with tempfile.TemporaryDirectory() as tmp:
        name = write_synthetic_dataset(tmp, sequences=1, frames=frames, size=PROFILE_FRAME_SIZE, test_fraction=0.0)[0]
        sequence = open_sequence_dir(Path(tmp) / name)
        run_tracker(tracker, sequence_source(sequence), progress=False)
        return run_tracker(tracker, sequence_source(sequence), progress=False)


def step_table(run) -> list[str]:
    """Markdown rows: milliseconds per tracked frame and share of the end-to-end time, per step."""
    per_frame = {step: seconds / run.tracked_frames for step, seconds in run.step_seconds.items()}
    total = run.tracking_seconds / run.tracked_frames
    per_frame["other (checks, loop)"] = max(total - sum(per_frame.values()), 0.0)
    rows = ["| step | ms per frame | share |", "|---|---|---|"]
    rows += [f"| {step} | {seconds * 1e3:.2f} | {100 * seconds / total:.1f}% |" for step, seconds in per_frame.items()]
    rows.append(f"| end to end | {total * 1e3:.2f} | 100% |")
    return rows
