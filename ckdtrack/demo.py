"""``ckdtrack demo``: RGB-T tracking end to end on built-in sample data, in a few minutes on a CPU.

1. writes held-out synthetic RGB-T sequences (a seed the demo model never saw in training);
2. tracks them with the bundled tiny CKD model (``ckdtrack test``), with side-by-side videos;
3. scores the results against a "box stays where it started" baseline (``ckdtrack eval``),
   with precision and success plots and a markdown table;
4. tracks a person through the real TNO "Nato_camp" RGB-T clip from a given box (no score:
   that clip has no ground truth).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from .data.benchmarks import open_benchmark
from .data.sequence import open_sequence_dir
from .data.synth import write_synthetic_dataset
from .errors import InputError
from .evaluation import evaluate_trackers
from .evaluation.plots import write_plots
from .evaluation.report import format_table, report_dict, write_json
from .io import atomic_write_text
from .tracking.benchmark import TrackerSpec, run_benchmark
from .tracking.frames import FrameSource, sequence_source
from .tracking.runner import format_boxes, run_tracker
from .tracking.tracker import CKDTracker

ASSETS = Path(__file__).resolve().parent / "assets"
DEMO_WEIGHTS = ASSETS / "ckd_tiny_synthetic.pth"
DEMO_WEIGHTS_SHA256 = (ASSETS / "ckd_tiny_synthetic.sha256").read_text().split()[0] if (
    ASSETS / "ckd_tiny_synthetic.sha256").is_file() else None
SAMPLE_DATA = Path(__file__).resolve().parents[1] / "sample_data"
DEMO_SEED = 7
NATO_CAMP_START = 1
NATO_CAMP_BOX = (117.0, 108.0, 16.0, 24.0)


def static_box_results(data: Path, out: Path) -> None:
    """The baseline every tracker must beat: the first box, repeated."""
    out.mkdir(parents=True, exist_ok=True)
    for sequence in open_benchmark("lasher", data, split="test", annotations_only=True):
        boxes = np.repeat(sequence.boxes[:1], len(sequence.boxes), axis=0)
        atomic_write_text(out / f"{sequence.name}.txt", format_boxes(boxes))


def track_nato_camp(tracker: CKDTracker, out: Path) -> tuple[Path, float] | None:
    """Track the walking person in the real TNO clip; returns the video path and FPS."""
    folder = SAMPLE_DATA / "tno_fel" / "Nato_camp_sequence"
    if not folder.is_dir():
        return None
    full = sequence_source(open_sequence_dir(folder))
    pairs = (pair for index, pair in enumerate(full.pairs) if index >= NATO_CAMP_START)
    source = FrameSource("Nato_camp", full.length - NATO_CAMP_START, pairs)
    video = out / "videos" / "Nato_camp.mp4"
    run = run_tracker(tracker, source, NATO_CAMP_BOX, video=video, progress=False)
    atomic_write_text(out / "Nato_camp.txt", format_boxes(run.boxes))
    return video, run.fps_end_to_end


def run_demo(out: str | Path, sequences: int = 4, frames: int = 60, workers: int = 1) -> dict:
    out = Path(out)
    if DEMO_WEIGHTS_SHA256 is None or not DEMO_WEIGHTS.is_file():
        raise InputError(f"{DEMO_WEIGHTS}: bundled demo weights missing (reinstall ckdtrack)")
    started = time.perf_counter()
    data = out / "synthetic"
    if not (data / "test.txt").is_file():
        print(f"[1/4] writing {sequences} held-out synthetic RGB-T sequences -> {data}")
        write_synthetic_dataset(data, sequences=sequences, frames=frames, size=(320, 256), seed=DEMO_SEED,
                                test_fraction=1.0)
    spec = TrackerSpec(str(DEMO_WEIGHTS), threads=1)
    print("[2/4] tracking them with the bundled tiny CKD model (ckdtrack test)")
    summary = run_benchmark("lasher", data, spec, out / "results" / "ckd-tiny", workers=workers,
                            videos=out / "videos", progress=True)
    static_box_results(data, out / "results" / "static-box")
    print("[3/4] scoring (ckdtrack eval, LasHeR protocol)")
    evaluation = evaluate_trackers("lasher", [out / "results" / "ckd-tiny", out / "results" / "static-box"],
                                   gt=data)
    table = format_table(evaluation, markdown=True)
    atomic_write_text(out / "scores.md", table + "\n")
    write_json(out / "scores.json", report_dict(evaluation))
    plots = write_plots(evaluation, out / "plots")
    print("[4/4] tracking a person in the real TNO Nato_camp RGB-T clip")
    tracker = CKDTracker.from_weights(DEMO_WEIGHTS, sha256=DEMO_WEIGHTS_SHA256)
    nato = track_nato_camp(tracker, out)
    return {"table": table, "summary": summary, "plots": plots, "nato": nato, "out": out,
            "seconds": time.perf_counter() - started}


def run(args: argparse.Namespace) -> int:
    result = run_demo(args.out, args.sequences, args.frames, args.workers)
    out = result["out"]
    fps = result["summary"]["fps_end_to_end"]
    print("\n" + result["table"])
    print(f"\nckd-tiny tracked {result['summary']['tracked_frames']} frames" + (f" at {fps:.0f} FPS" if fps else ""))
    print(f"videos (RGB | thermal, box and score):  {out / 'videos'}")
    print(f"precision / success plots:              {out / 'plots'}")
    print(f"score table:                            {out / 'scores.md'}")
    if result["nato"] is not None:
        print(f"real TNO clip (no ground truth):        {result['nato'][0]}")
    print(f"demo finished in {result['seconds']:.0f} s")
    return 0


def register(subparsers) -> None:
    demo = subparsers.add_parser("demo", help="end-to-end demo on built-in sample data",
                                 description=__doc__.splitlines()[0])
    demo.add_argument("--out", default="demo_output", help="output folder")
    demo.add_argument("--sequences", type=int, default=4, help="synthetic sequences to track")
    demo.add_argument("--frames", type=int, default=60, help="frames per synthetic sequence")
    demo.add_argument("--workers", type=int, default=1)
    demo.set_defaults(func=run)
