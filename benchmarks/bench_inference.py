"""Forward-only latency and end-to-end FPS of CKD inference, with ratios and FLOP utilisation.

Times ``ckd_vitb``, ``ckd_vitb_mce`` and the small CPU model ``ckd_small_cpu`` in one run, each
with random weights (speed does not depend on them), one tracker, batch 1, ``--threads`` CPU
threads. A config whose tracker re-detects (``tracker.redetect_threshold``) is timed tracking a
visible target (re-detection off: the common case), in a "target lost" row with the budgeted
whole-frame search on every frame (its worst case) and, when it rests between fruitless passes
(``tracker.redetect_pause``), in a "target lost, resting" row: the mean over ``--frames`` lost
frames. The baseline is the
straightforward fp32 eager ViT-B path without elimination. The
machine's matmul peak is measured in the same run, so MFU = model FLOPs / forward time / that
peak. Prints the machine, one table, the small model's speed-up over ``ckd_vitb_mce`` and the
step breakdown of the baseline and of the fastest mode; copy them to docs/benchmarks.md.

    python benchmarks/bench_inference.py [--device cpu|cuda] [--threads 2] [--runs 20] [--frames 30]
        [--precisions fp32,bf16] [--compile] [--onnx] [--configs ckd_vitb,ckd_vitb_mce,ckd_small_cpu]
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
from pathlib import Path

import torch

from ckdtrack.config import load_config
from ckdtrack.models import CKD
from ckdtrack.models.ckd import example_inputs
from ckdtrack.models.onnx import OnnxNetwork, export_onnx
from ckdtrack.models.runtime import AUTOCAST_DTYPES
from ckdtrack.tracking import CKDTracker
from ckdtrack.tracking.profiling import (
    count_macs, forward_latency, machine_description, matmul_peak_flops, profile_tracking, step_table, time_call,
)

SMALL, REFERENCE = "ckd_small_cpu", "ckd_vitb_mce"


def onnx_tracker(model, config, folder: Path) -> CKDTracker:
    path = folder / f"{config.name}.onnx"
    export_onnx(model, path)
    return CKDTracker.from_weights(path, config, backend="onnxruntime")


def with_tracker_settings(config, **fields):
    """``config`` with these tracker settings (e.g. ``redetect_threshold`` 0: never search the
    whole frame, 1: on every frame)."""
    return dataclasses.replace(config, tracker=dataclasses.replace(config.tracker, **fields))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=2, help="CPU threads (torch and ONNX Runtime)")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--configs", default=f"ckd_vitb,{REFERENCE},{SMALL}")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile'd fp32 models")
    parser.add_argument("--onnx", action="store_true", help="also time ONNX Runtime (CPU) on an fp32 export")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    precisions = args.precisions.split(",")
    print(machine_description(args.device))
    peak = {p: matmul_peak_flops(args.device, AUTOCAST_DTYPES[p] or torch.float32) for p in precisions}
    for precision, flops in peak.items():
        print(f"matmul peak {precision}: {flops / 1e9:.1f} GFLOP/s")
    rows, runs = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for config_name in args.configs.split(","):
            configured = load_config(config_name)
            config = with_tracker_settings(configured, redetect_threshold=0.0)
            model = CKD(config).to(args.device).eval()
            inputs = example_inputs(config, args.device)
            macs = count_macs(model, inputs)
            modes = [(p, CKDTracker(model, config, args.device, p)) for p in precisions]
            if configured.tracker.redetect_threshold > 0:
                lost = with_tracker_settings(configured, redetect_threshold=1.0, redetect_pause=0)
                modes.append(("fp32, target lost", CKDTracker(model, lost, args.device)))
            if configured.tracker.redetect_threshold > 0 and configured.tracker.redetect_pause > 0:
                resting = with_tracker_settings(configured, redetect_threshold=1.0)
                modes.append(("fp32, target lost, resting", CKDTracker(model, resting, args.device)))
            if args.compile:
                modes.append(("fp32 compiled", CKDTracker(model, config, args.device, compile=True)))
            if args.onnx:
                modes.append(("fp32 onnxruntime", onnx_tracker(model, config, Path(tmp))))
            for mode, tracker in modes:
                if isinstance(tracker.network, OnnxNetwork):
                    latency = time_call(lambda: tracker.network(*inputs), runs=args.runs)
                else:
                    latency = forward_latency(tracker.network, inputs, tracker.precision, args.device, runs=args.runs)
                run = profile_tracking(tracker, args.frames)
                mfu = 2 * macs / latency / peak.get(tracker.precision, peak[precisions[0]])
                rows.append((config_name, mode, macs, latency, run.fps_end_to_end, mfu))
                runs[(config_name, mode)] = run
    base_latency, base_e2e = rows[0][3], rows[0][4]
    print("\n| config | mode | GMACs | forward ms | forward speed-up | end-to-end FPS | end-to-end speed-up | MFU |")
    print("|---|---|---|---|---|---|---|---|")
    for name, mode, macs, latency, e2e, mfu in rows:
        print(f"| {name} | {mode} | {macs / 1e9:.2f} | {latency * 1e3:.1f} | {base_latency / latency:.2f}x | "
              f"{e2e:.2f} | {e2e / base_e2e:.2f}x | {100 * mfu:.0f}% |")
    fps = {(name, mode): e2e for name, mode, _, _, e2e, _ in rows}
    if (SMALL, "fp32") in fps and (REFERENCE, "fp32") in fps:
        small, reference = fps[(SMALL, "fp32")], fps[(REFERENCE, "fp32")]
        print(f"\n{SMALL} fp32: {small:.1f} FPS end to end = {small / reference:.1f}x {REFERENCE} fp32 "
              f"({reference:.2f} FPS); targets: >= 25 FPS and >= 15x")
    fastest = max(rows, key=lambda row: row[4])
    for name, mode in dict.fromkeys([(rows[0][0], rows[0][1]), (fastest[0], fastest[1])]):
        print(f"\nsteps, {name} {mode}:")
        print("\n".join(step_table(runs[(name, mode)])))


if __name__ == "__main__":
    main()
