"""``ckdtrack test``: run the tracker over every sequence of a benchmark, resumably.

One result file per sequence (``<seq>.txt``, x,y,w,h per frame, frame 1 = the ground truth)
plus ``<seq>_time.txt`` (seconds per frame), each written atomically when the sequence is
done. A re-run skips sequences whose result file exists, so a killed run loses at most the
sequences in flight. Sequences are spread over worker processes and devices.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from ..data.benchmarks import open_benchmark
from ..data.sequence import RGBTSequence
from ..errors import InputError
from ..io import atomic_write_text
from .frames import sequence_source
from .runner import format_boxes, run_tracker
from .tracker import CKDTracker


@dataclass
class TrackerSpec:
    """What each worker needs to build its own tracker."""

    weights: str
    config: str | None = None
    precision: str = "fp32"
    threads: int = 1
    backend: str = "torch"
    compile: bool = False

    def build(self, device: str) -> CKDTracker:
        return CKDTracker.from_weights(self.weights, self.config, device, self.precision, backend=self.backend,
                                       compile=self.compile)


@dataclass
class SequenceTiming:
    """Timing of one sequence's tracked frames (its init frame excluded)."""

    name: str
    tracked_frames: int
    seconds: float
    forward_seconds: float

    @property
    def fps(self) -> float:
        return self.tracked_frames / self.seconds if self.seconds else float("nan")


def result_paths(out_dir: Path, name: str) -> tuple[Path, Path]:
    return out_dir / f"{name}.txt", out_dir / f"{name}_time.txt"


def track_one(tracker: CKDTracker, sequence: RGBTSequence, out_dir: Path, int_boxes: bool,
              videos: Path | None = None, progress: bool = False) -> SequenceTiming:
    """Track a benchmark sequence from its init box and save its results (and video)."""
    video = videos / f"{sequence.name}.mp4" if videos is not None else None
    run = run_tracker(tracker, sequence_source(sequence), video=video, progress=progress)
    boxes_path, time_path = result_paths(out_dir, sequence.name)
    atomic_write_text(time_path, "".join(f"{t:.6f}\n" for t in run.frame_seconds))
    atomic_write_text(boxes_path, format_boxes(run.boxes, integer=int_boxes))
    return SequenceTiming(sequence.name, run.tracked_frames, run.tracking_seconds, run.stage_seconds["forward"])


def _worker_main(spec: TrackerSpec, device: str, out_dir: Path, int_boxes: bool, videos, jobs, results) -> None:
    """A worker process: one tracker, sequences from ``jobs`` until a ``None`` arrives."""
    torch.set_num_threads(spec.threads)
    try:
        tracker = spec.build(device)
        for sequence in iter(jobs.get, None):
            results.put(track_one(tracker, sequence, out_dir, int_boxes, videos))
    except InputError as exc:
        results.put(InputError(str(exc)))


def _track_in_workers(pending: list[RGBTSequence], spec: TrackerSpec, devices: list[str], workers: int,
                      out_dir: Path, int_boxes: bool, videos: Path | None, on_done) -> None:
    context = multiprocessing.get_context("spawn")
    jobs, results = context.Queue(), context.Queue()
    for sequence in pending:
        jobs.put(sequence)
    for _ in range(workers):
        jobs.put(None)
    processes = [
        context.Process(target=_worker_main, args=(spec, devices[i % len(devices)], out_dir, int_boxes, videos, jobs, results))
        for i in range(workers)
    ]
    for process in processes:
        process.start()
    try:
        for _ in pending:
            outcome = results.get()
            if isinstance(outcome, InputError):
                raise outcome
            on_done(outcome)
    finally:
        for process in processes:
            if process.is_alive():
                process.terminate()
            process.join()


def run_benchmark(benchmark: str, data_root: str | Path, spec: TrackerSpec, out_dir: str | Path,
                  workers: int = 1, devices: list[str] | None = None, sequences: list[str] | None = None,
                  int_boxes: bool = False, videos: str | Path | None = None, progress: bool = True) -> dict:
    """Track all (remaining) sequences; returns a summary with per-sequence and overall FPS.

    With ``videos`` a side-by-side MP4 per sequence is written into that folder.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    videos = Path(videos) if videos is not None else None
    devices = devices or ["cpu"]
    all_sequences = open_benchmark(benchmark, data_root, split="test", sequences=sequences)
    pending = [s for s in all_sequences if not result_paths(out_dir, s.name)[0].exists()]
    done_before = len(all_sequences) - len(pending)
    timings: list[SequenceTiming] = []
    bar = tqdm(total=len(all_sequences), initial=done_before, desc=f"{benchmark} sequences", unit="seq",
               disable=not progress)
    with bar:
        if workers <= 1:
            torch.set_num_threads(spec.threads)
            tracker = spec.build(devices[0])
            for sequence in pending:
                timings.append(track_one(tracker, sequence, out_dir, int_boxes, videos, progress=progress))
                bar.update()
        elif pending:
            def on_done(timing: SequenceTiming) -> None:
                timings.append(timing)
                bar.update()

            _track_in_workers(pending, spec, devices, workers, out_dir, int_boxes, videos, on_done)
    summary = summarise(benchmark, timings, done_before, len(all_sequences))
    atomic_write_text(out_dir / "summary.json", json.dumps(summary, indent=1))
    return summary


def summarise(benchmark: str, timings: list[SequenceTiming], skipped: int, total: int) -> dict:
    frames = sum(t.tracked_frames for t in timings)
    seconds = sum(t.seconds for t in timings)
    forward = sum(t.forward_seconds for t in timings)
    return {
        "benchmark": benchmark,
        "sequences_total": total,
        "sequences_already_done": skipped,
        "sequences_tracked": len(timings),
        "tracked_frames": frames,
        "fps_end_to_end": frames / seconds if seconds else None,
        "fps_model": frames / forward if forward else None,
        "per_sequence": [dict(asdict(t), fps=t.fps) for t in sorted(timings, key=lambda t: t.name)],
    }


def default_threads(workers: int) -> int:
    return max(1, (os.cpu_count() or 1) // max(workers, 1))


def parse_devices(text: str) -> list[str]:
    devices = [d.strip() for d in text.split(",") if d.strip()]
    if not devices:
        raise InputError("--devices: give cpu or a comma-separated list such as cuda:0,cuda:1")
    for device in devices:
        if device.startswith("cuda") and not torch.cuda.is_available():
            raise InputError(f"--devices {device}: CUDA is not available on this machine")
        if not (device == "cpu" or device.startswith("cuda")):
            raise InputError(f"--devices: unknown device '{device}'")
    return devices
