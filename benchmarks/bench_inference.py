"""Forward-only latency and end-to-end FPS of CKD inference, with ratios and FLOP utilisation.

Every mode uses the same (random) ViT-B weights; the baseline is the straightforward fp32
eager path without elimination. The machine's matmul peak is measured in the same run, so
MFU = model FLOPs / forward time / that peak. Prints the machine, one table and the stage
breakdown of the baseline and of the fastest mode; copy them to docs/benchmarks.md.

    python benchmarks/bench_inference.py [--device cpu|cuda] [--runs 20] [--frames 30]
        [--precisions fp32,fp16,bf16] [--compile] [--onnx]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import torch

from ckdtrack.config import load_config
from ckdtrack.models import build_model
from ckdtrack.models.onnx import OnnxNetwork, export_onnx
from ckdtrack.profiling import (
    count_macs, example_inputs, forward_latency, machine_description, matmul_peak_flops, profile_tracking, stage_table,
    time_call,
)
from ckdtrack.tracking import CKDTracker
from ckdtrack.tracking.tracker import AUTOCAST_DTYPES


def onnx_tracker(model, config, folder: Path) -> CKDTracker:
    path = folder / f"{config.name}.onnx"
    export_onnx(model, config.to_dict(), path)
    return CKDTracker.from_weights(path, config, backend="onnxruntime")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile'd fp32 models")
    parser.add_argument("--onnx", action="store_true", help="also time ONNX Runtime (CPU) on an fp32 export")
    args = parser.parse_args()
    torch.manual_seed(0)
    precisions = args.precisions.split(",")
    print(machine_description(args.device))
    peak = {p: matmul_peak_flops(args.device, AUTOCAST_DTYPES[p] or torch.float32) for p in precisions}
    for precision, flops in peak.items():
        print(f"matmul peak {precision}: {flops / 1e9:.1f} GFLOP/s")
    rows, runs = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for config_name in ("ckd_vitb", "ckd_vitb_mce"):
            config = load_config(config_name)
            model = build_model(config.network_shape()).to(args.device).eval()
            inputs = example_inputs(model.shape, args.device)
            macs = count_macs(model, inputs)
            modes = [(p, CKDTracker(model, config, args.device, p)) for p in precisions]
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
        print(f"| {name} | {mode} | {macs / 1e9:.1f} | {latency * 1e3:.0f} | {base_latency / latency:.2f}x | "
              f"{e2e:.2f} | {e2e / base_e2e:.2f}x | {100 * mfu:.0f}% |")
    fastest = max(rows, key=lambda row: row[4])
    for name, mode in {(rows[0][0], rows[0][1]), (fastest[0], fastest[1])}:
        print(f"\nstages, {name} {mode}:")
        print("\n".join(stage_table(runs[(name, mode)])))


if __name__ == "__main__":
    main()
