"""``ckdtrack demo``: RGB-T tracking end to end on built-in sample data, in a few minutes on a CPU.

1. tracks a person through the three real TNO RGB-T clips (Nato_camp, Duine, Tree) with the
   bundled small CKD model, from each clip's first annotated box, with the tracker settings
   stored in the model (chosen on validation data: when the score drops, the whole frame is
   searched for the target, a few windows per frame, so the tracker can follow Nato_camp's two
   scene cuts; the cut frames are scored as they are);
   side-by-side videos, and per-clip scores against the shipped annotations next to two
   classical trackers and a "box stays where it started" baseline (``ckdtrack eval``, LasHeR
   protocol), with the model's margin over the better classical tracker on each clip;
2. writes held-out synthetic RGB-T sequences (a seed the model never saw in training), tracks
   them (``ckdtrack test``) and scores them the same way, with precision and success plots.

The plots are an extra: without matplotlib the demo does the rest and says the plots were skipped.

The tracking modules (and torch) are imported when the demo runs, not with this module, so
``ckdtrack --help`` stays light.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import numpy as np

from .boxes import read_box_file
from .data.benchmarks import valid_box_mask
from .data.sequence import open_sequence_dir
from .data.synth import write_synthetic_dataset
from .errors import InputError
from .evaluation import Evaluation, evaluate_trackers
from .evaluation.metrics import SUCCESS_AXIS, axis_index
from .evaluation.plots import can_plot, write_plots
from .evaluation.report import format_table, report_dict
from .io import atomic_write_text

ASSETS = Path(__file__).resolve().parent / "assets"
DEMO_WEIGHTS = ASSETS / "ckd_small_rgbt.pth"
SAMPLE_DATA = Path(__file__).resolve().parent / "sample_data"
TNO_CLIPS = {"Nato_camp": "Nato_camp_sequence", "Duine": "Duine_sequence", "Tree": "Tree_sequence"}
DEMO_SEED = 7
TRACKER_NAME = "ckd-small"
SUCCESS_IOU = 0.5  # "success": the share of frames whose overlap with the annotation exceeds this


def demo_weights() -> Path:
    """The bundled model, checked against its recorded sha256."""
    from .models.checkpoint import sha256_of

    digest_file = DEMO_WEIGHTS.with_suffix(".sha256")
    if not DEMO_WEIGHTS.is_file() or not digest_file.is_file():
        raise InputError(f"{DEMO_WEIGHTS}: bundled demo weights or their .sha256 missing (reinstall ckdtrack)")
    if sha256_of(DEMO_WEIGHTS) != digest_file.read_text().split()[0]:
        raise InputError(f"{DEMO_WEIGHTS}: sha256 does not match {digest_file.name} (reinstall ckdtrack)")
    return DEMO_WEIGHTS


def write_tno_benchmark(out: Path, source: Path = SAMPLE_DATA / "tno_fel") -> Path:
    """The annotated TNO clips as a LasHeR-layout test set, each from its first annotated frame.

    The shipped ``init.txt`` of a clip has a box per frame (0,0,0,0 where the person is not
    visible: the first frame of every clip). Trackers start from the first visible box, so the
    scored clip starts there too; its frames are copied unchanged. Rewritten only when the
    annotations differ from the copy's.
    """
    out = Path(out)
    for name, folder_name in TNO_CLIPS.items():
        folder = source / folder_name
        if not (folder / "init.txt").is_file():
            raise InputError(f"{folder}: TNO clip or its annotation init.txt not found")
        boxes = read_box_file(folder / "init.txt", allow_nan=True)
        sequence = open_sequence_dir(folder)
        if len(boxes) != len(sequence):
            raise InputError(f"{folder / 'init.txt'}: {len(boxes)} boxes for {len(sequence)} frames")
        first = int(np.flatnonzero(valid_box_mask(boxes))[0])
        text = "".join(",".join(str(int(v)) for v in box) + "\n" for box in boxes[first:])
        target = out / name
        if (target / "init.txt").is_file() and (target / "init.txt").read_text() == text:
            continue
        shutil.rmtree(target, ignore_errors=True)
        for modality, frames in (("visible", sequence.visible_frames), ("infrared", sequence.thermal_frames)):
            (target / modality).mkdir(parents=True)
            for frame in frames[first:]:
                shutil.copyfile(frame, target / modality / frame.name)
        atomic_write_text(target / "init.txt", text)
    atomic_write_text(out / "test.txt", "".join(f"{name}\n" for name in TNO_CLIPS))
    return out


def clip_scores(evaluation: Evaluation, gt: Path) -> list[dict]:
    """Per clip and tracker: success (IoU > 0.5), precision (centre error <= 20 px), SR (AUC)."""
    rows = []
    for clip in evaluation.sequence_names:
        single = evaluate_trackers("lasher", [t.folder for t in evaluation.trackers],
                                   names=[t.name for t in evaluation.trackers], gt=gt, sequences=[clip])
        for tracker in single.trackers:
            rows.append({"clip": clip, "tracker": tracker.name,
                         "success": float(tracker.curves["SR"][axis_index(SUCCESS_AXIS, SUCCESS_IOU)]),
                         "precision": tracker.scores["PR"] / 100.0, "SR": tracker.scores["SR"] / 100.0})
    return rows


def format_clip_table(rows: list[dict], fps: dict[str, float] | None = None) -> str:
    """Markdown table of :func:`clip_scores` rows, with each tracker's mean over the clips."""
    trackers = list(dict.fromkeys(row["tracker"] for row in rows))
    lines = ["| clip | tracker | success (IoU>0.5) | precision (<=20 px) | SR (AUC) |", "|---|---|---:|---:|---:|"]
    for row in rows:
        lines.append(f"| {row['clip']} | {row['tracker']} | {row['success']:.2f} | {row['precision']:.2f} | "
                     f"{row['SR']:.2f} |")
    for tracker in trackers:
        mine = [row for row in rows if row["tracker"] == tracker]
        means = {k: float(np.mean([row[k] for row in mine])) for k in ("success", "precision", "SR")}
        lines.append(f"| **mean** | {tracker} | {means['success']:.2f} | {means['precision']:.2f} | {means['SR']:.2f} |")
    return "\n".join(lines)


def mean_success(rows: list[dict], tracker: str) -> float:
    return float(np.mean([row["success"] for row in rows if row["tracker"] == tracker]))


def margins_over_best(rows: list[dict], tracker: str, others: list[str]) -> list[tuple[str, float, str, float]]:
    """Per clip: ``tracker``'s success, and the name and success of the best of ``others``."""
    by_clip = {}
    for row in rows:
        by_clip.setdefault(row["clip"], {})[row["tracker"]] = row["success"]
    comparison = []
    for clip, scores in by_clip.items():
        best = max(others, key=lambda name: scores[name])
        comparison.append((clip, scores[tracker], best, scores[best]))
    return comparison


def track_tno(out: Path, weights: Path) -> dict:
    """Track the three clips (re-detection as the bundled model's config sets it) and the
    classical baselines, score them; videos in ``out/videos/tno``."""
    from .tracking.baselines import BASELINES, baseline_results, static_box_results
    from .tracking.test_runner import TrackerSpec, run_benchmark

    data = write_tno_benchmark(out / "tno_data")
    results = out / "results" / "tno"
    shutil.rmtree(results, ignore_errors=True)
    summary = run_benchmark("lasher", data, TrackerSpec(str(weights), threads=2), results / TRACKER_NAME,
                            videos=out / "videos" / "tno", progress=False, overwrite=True)
    for name in BASELINES:
        baseline_results(name, data, results / name)
    static_box_results(data, results / "static-box")
    names = [TRACKER_NAME, *BASELINES, "static-box"]
    evaluation = evaluate_trackers("lasher", [results / name for name in names], gt=data,
                                   dataset_label="TNO clips (LasHeR protocol)")
    rows = clip_scores(evaluation, data)
    return {"rows": rows, "table": format_clip_table(rows), "fps": summary.get("fps_end_to_end"),
            "evaluation": evaluation}


def synthetic_data(out: Path, sequences: int, frames: int) -> Path:
    """Held-out synthetic sequences, regenerated when the requested parameters differ."""
    data = out / "synthetic"
    manifest = data / "synth.json"
    wanted = {"seed": DEMO_SEED, "frames": frames, "width": 320, "height": 256}
    if manifest.is_file():
        written = json.loads(manifest.read_text())
        if {k: written.get(k) for k in wanted} == wanted and len(written.get("sequences", {})) == sequences:
            return data
        shutil.rmtree(data)
    print(f"      writing {sequences} held-out synthetic RGB-T sequences -> {data}")
    write_synthetic_dataset(data, sequences=sequences, frames=frames, size=(320, 256), seed=DEMO_SEED,
                            test_fraction=1.0)
    return data


def write_demo_plots(evaluations: dict[str, Evaluation], folder: Path) -> Path | None:
    """Each part's plots in ``folder/<part>``, or None without matplotlib. A part's plots of an
    earlier run are removed first, so no plot left behind describes other results."""
    for part in evaluations:
        shutil.rmtree(folder / part, ignore_errors=True)
    if not can_plot():
        return None
    for part, evaluation in evaluations.items():
        write_plots(evaluation, folder / part)
    return folder


def run_demo(out: str | Path, sequences: int = 4, frames: int = 60, workers: int = 1) -> dict:
    from .tracking.baselines import static_box_results
    from .tracking.test_runner import TrackerSpec, run_benchmark

    out = Path(out)
    weights = demo_weights()
    started = time.perf_counter()
    print("[1/3] tracking a person through the real TNO RGB-T clips (Nato_camp, Duine, Tree)")
    tno = track_tno(out, weights)
    atomic_write_text(out / "tno_scores.md", tno["table"] + "\n")
    atomic_write_text(out / "tno_scores.json", json.dumps({"clips": tno["rows"], "fps_end_to_end": tno["fps"]},
                                                          indent=1))
    print("[2/3] tracking held-out synthetic sequences (ckdtrack test)")
    data = synthetic_data(out, sequences, frames)
    results = out / "results" / "synthetic"
    summary = run_benchmark("lasher", data, TrackerSpec(str(weights), threads=1), results / TRACKER_NAME,
                            workers=workers, videos=out / "videos" / "synthetic", progress=True, overwrite=True)
    shutil.rmtree(results / "static-box", ignore_errors=True)
    static_box_results(data, results / "static-box")
    print("[3/3] scoring (ckdtrack eval, LasHeR protocol)")
    evaluation = evaluate_trackers("lasher", [results / TRACKER_NAME, results / "static-box"], gt=data,
                                   dataset_label="synthetic (LasHeR protocol)")
    table = format_table(evaluation, markdown=True)
    atomic_write_text(out / "scores.md", table + "\n")
    atomic_write_text(out / "scores.json", json.dumps(report_dict(evaluation), indent=1))
    plots = write_demo_plots({"tno": tno["evaluation"], "synthetic": evaluation}, out / "plots")
    return {"table": table, "summary": summary, "plots": plots, "tno": tno, "out": out,
            "seconds": time.perf_counter() - started}


def run(args: argparse.Namespace) -> int:
    result = run_demo(args.out, args.sequences, args.frames, args.workers)
    out, tno = result["out"], result["tno"]
    print("\nreal TNO clips (annotated person; success = share of frames with IoU > 0.5):")
    print(tno["table"])
    mine = mean_success(tno["rows"], TRACKER_NAME)
    others = {name: mean_success(tno["rows"], name) for name in dict.fromkeys(row["tracker"] for row in tno["rows"])
              if name != TRACKER_NAME}
    print(f"{TRACKER_NAME}: mean success {mine:.2f} over the three clips; "
          + ", ".join(f"{'above' if mine > theirs else 'NOT above'} {name}'s {theirs:.2f}"
                      for name, theirs in others.items())
          + (f"; {tno['fps']:.0f} FPS end to end" if tno["fps"] else ""))
    classical = [name for name in others if name != "static-box"]
    print("per clip against the better classical tracker: " + ", ".join(
        f"{clip} {mine:.2f} vs {best} {theirs:.2f} ({mine - theirs:+.2f})"
        for clip, mine, best, theirs in margins_over_best(tno["rows"], TRACKER_NAME, classical)))
    print("\nheld-out synthetic sequences:")
    print(result["table"])
    fps = result["summary"].get("fps_end_to_end")
    print(f"\n{TRACKER_NAME} tracked {result['summary'].get('tracked_frames', 0)} synthetic frames"
          + (f" at {fps:.0f} FPS" if fps else ""))
    print(f"videos (RGB | thermal, box and score):  {out / 'videos'}")
    if result["plots"] is None:
        print("precision / success plots:              skipped, matplotlib is not installed "
              "(pip install 'ckdtrack[plots]')")
    else:
        print(f"precision / success plots:              {result['plots']}")
    print(f"score tables:                           {out / 'tno_scores.md'}, {out / 'scores.md'}")
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
