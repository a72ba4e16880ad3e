"""Forward-only latency and end-to-end FPS of CKD inference, with ratios and FLOP utilisation.

Every mode uses the same (random) ViT-B weights; the baseline is the straightforward fp32
eager path without elimination. Prints one table; copy it to docs/benchmarks.md with the
machine line.

    python benchmarks/bench_inference.py [--device cpu|cuda] [--runs 20] [--frames 30] [--compile]
"""

from __future__ import annotations

import argparse

import torch

from ckdtrack.config import load_config
from ckdtrack.models import build_model
from ckdtrack.profiling import (
    count_macs, end_to_end_fps, example_inputs, forward_latency, machine_description, matmul_peak_flops,
)
from ckdtrack.tracking import CKDTracker


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--precisions", default="fp32,bf16")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile'd models")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(machine_description(args.device))
    peak = {p: matmul_peak_flops(args.device, torch.float32 if p == "fp32" else torch.bfloat16)
            for p in args.precisions.split(",")}
    for precision, flops in peak.items():
        print(f"matmul peak {precision}: {flops / 1e9:.1f} GFLOP/s")
    rows = []
    for config_name in ("ckd_vitb", "ckd_vitb_mce"):
        config = load_config(config_name)
        model = build_model(config.network_shape()).to(args.device).eval()
        inputs = example_inputs(model, args.device)
        macs = count_macs(model, inputs)
        variants = [(p, False) for p in peak] + ([(p, True) for p in peak] if args.compile else [])
        for precision, compiled in variants:
            runner = torch.compile(model) if compiled else model
            latency = forward_latency(runner, inputs, precision, args.device, runs=args.runs)
            tracker = CKDTracker(model, config, device=args.device, precision=precision)
            if compiled:
                tracker.network = runner
            e2e, model_fps = end_to_end_fps(tracker, args.frames)
            mfu = 2 * macs / latency / peak[precision]
            rows.append((config_name, precision + (" compiled" if compiled else ""), macs, latency, e2e, mfu))
    base_latency, base_e2e = rows[0][3], rows[0][4]
    print("\n| config | mode | GMACs | forward ms | forward speed-up | end-to-end FPS | end-to-end speed-up | MFU |")
    print("|---|---|---|---|---|---|---|---|")
    for name, mode, macs, latency, e2e, mfu in rows:
        print(f"| {name} | {mode} | {macs / 1e9:.1f} | {latency * 1e3:.0f} | {base_latency / latency:.2f}x | "
              f"{e2e:.2f} | {e2e / base_e2e:.2f}x | {100 * mfu:.0f}% |")


if __name__ == "__main__":
    main()
