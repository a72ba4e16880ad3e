"""Score trackers on the three annotated real TNO RGB-T clips, next to two classical baselines.

Every tracker starts from each clip's first annotated box and its results are scored with the
``ckdtrack eval`` machinery (LasHeR protocol) against the shipped annotations: per clip the
success (share of frames with IoU > 0.5), the precision (centre error <= 20 px) and the SR (area
under the success curve). Trackers:

- the classical baselines of :mod:`ckdtrack.tracking.baselines` (also in the demo): ``ncc``
  (whole-frame thermal template matching), ``mil`` (OpenCV's MIL tracker: the only tracker
  opencv-python-headless ships without model files; DaSiamRPN, Nano and Vit need downloaded
  networks) and ``static-box``;
- each ``--weights`` CKD model as its stored config sets it (``ckd-...``) and, when that
  config re-detects after loss (``tracker.redetect_threshold``), also with re-detection off
  (``...-local``).

The clips are test material: nothing is trained or tuned on them.

    python benchmarks/tno_eval.py --weights ckdtrack/assets/ckd_small_rgbt.pth --out runs/tno_eval
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
from pathlib import Path

import torch

from ckdtrack.data.benchmarks import open_benchmark
from ckdtrack.demo import clip_scores, format_clip_table, write_tno_benchmark
from ckdtrack.evaluation import evaluate_trackers
from ckdtrack.io import atomic_write_text
from ckdtrack.models import load_model
from ckdtrack.tracking.baselines import BASELINES, baseline_results, static_box_results
from ckdtrack.tracking.test_runner import save_result, track_sequence
from ckdtrack.tracking.tracker import CKDTracker


LOCAL_ONLY = {"redetect_threshold": 0.0, "redetect_accept": 0.0, "redetect_appearance": 0.0,
              "redetect_windows": 0, "redetect_pause": 0, "hold_size_below": 0.0}
"""Tracker settings that make the published, local-only tracker: no re-detection, no size hold."""


def with_tracker(weights: Path, **settings) -> CKDTracker:
    """The tracker of ``weights`` with its stored config, ``settings`` replacing fields of its
    ``tracker`` section (``**LOCAL_ONLY``: the published, local-only tracker)."""
    model, config = load_model(weights)
    config = dataclasses.replace(config, tracker=dataclasses.replace(config.tracker, **settings))
    return CKDTracker(model, config)


def run_ckd(tracker: CKDTracker, data: Path, out: Path, videos: Path | None) -> float:
    frames, seconds = 0, 0.0
    for sequence in open_benchmark("lasher", data, split="test"):
        timing = save_result(out, track_sequence(tracker, sequence, videos=videos), int_boxes=False)
        frames, seconds = frames + timing.tracked_frames, seconds + timing.seconds
    return frames / seconds


def evaluate_tno(work: Path, models: dict[str, Path], threads: int = 2, videos: bool = False) -> dict:
    """Track and score the clips with the baselines and ``models`` (name -> weights); returns
    ``{"rows": per clip and tracker, "fps": per tracker, "table": markdown}``."""
    torch.set_num_threads(threads)
    work = Path(work)
    data = write_tno_benchmark(work / "data")
    results = work / "results"
    shutil.rmtree(results, ignore_errors=True)
    fps = {name: baseline_results(name, data, results / name) for name in BASELINES}
    static_box_results(data, results / "static-box")
    names = []
    for name, weights in models.items():
        tracker = with_tracker(weights)
        fps[name] = run_ckd(tracker, data, results / name, work / "videos" / name if videos else None)
        names.append(name)
        if tracker.config.tracker != with_tracker(weights, **LOCAL_ONLY).config.tracker:
            fps[f"{name}-local"] = run_ckd(with_tracker(weights, **LOCAL_ONLY), data,
                                           results / f"{name}-local", None)
            names.append(f"{name}-local")
    names += ["ncc", "mil", "static-box"]
    evaluation = evaluate_trackers("lasher", [results / n for n in names], names=names, gt=data)
    rows = clip_scores(evaluation, data)
    for row in rows:
        row["fps"] = fps.get(row["tracker"], float("nan"))
    return {"rows": rows, "fps": fps, "table": format_clip_table(rows)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", nargs="*", default=[], help="CKD inference weights to score")
    parser.add_argument("--out", default="runs/tno_eval")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--videos", action="store_true", help="also write side-by-side videos of the CKD runs")
    args = parser.parse_args()
    models = {f"ckd-{Path(w).stem}": Path(w) for w in args.weights}
    report = evaluate_tno(Path(args.out), models, args.threads, args.videos)
    atomic_write_text(Path(args.out) / "scores.json", json.dumps(report, indent=1))
    print(report["table"])
    print("\nend-to-end FPS (decode included, 2 threads, shared CPU): "
          + ", ".join(f"{name} {value:.0f}" for name, value in report["fps"].items()))


if __name__ == "__main__":
    main()
