"""``ckdtrack track``, ``test``, ``export-onnx`` and ``profile``: the commands that run a network.

torch is imported inside the command functions only, so ``ckdtrack --help`` and the commands
that run no network start without it.
"""

from __future__ import annotations

import argparse
import os
import platform
from pathlib import Path

from ..benchmark_registry import NAMES, normalize_name
from ..boxes import parse_box_line
from ..config import DEVICE_HELP, PRECISIONS
from ..errors import InputError


def parse_init_box(text: str) -> list[float]:
    try:
        values = parse_box_line(text)
    except ValueError:
        raise InputError(f"--init: expected X,Y,W,H numbers, got {text!r}") from None
    if len(values) != 4:
        raise InputError(f"--init: expected 4 numbers X,Y,W,H, got {len(values)}")
    return values


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--weights", required=True, help="inference checkpoint (.pth / .pth.tar) or .onnx")
    parser.add_argument("--config", default=None,
                        help="bundled config name (ckd_vitb, ckd_vitb_mce, ...; ckdtrack config lists them) or a YAML path; "
                             "default: the config stored in the weights file, else ckd_vitb")
    parser.add_argument("--precision", choices=PRECISIONS, default="fp32",
                        help="fp32 (exact), or fp16/bf16 autocast (for GPUs; slower on CPUs without native "
                             "support, and not bit-exact: see docs/benchmarks.md)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the network (compiles on first frame)")
    parser.add_argument("--backend", choices=("torch", "onnxruntime"), default="torch",
                        help="onnxruntime runs a model written by `ckdtrack export-onnx`")


def check_output_file(path: str | None, what: str) -> None:
    """Refuse an output that cannot be written before any work is done: a folder, a path under
    a file, or a folder without write permission."""
    if path is None:
        return
    target = Path(path)
    if target.is_dir():
        raise InputError(f"{what} {path}: is a folder, expected a file name")
    parent = target.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise InputError(f"{what} {path}: {parent} is a file, not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InputError(f"{what} {path}: folder {parent} is not writable")


def format_fps(fps: float | None) -> str:
    return "n/a" if fps is None or fps != fps else f"{fps:.1f}"


def run_track(args: argparse.Namespace) -> int:
    import torch

    from ..data.sequence import open_sequence_dir
    from .frames import sequence_source, video_source
    from .runner import run_tracker, write_boxes
    from .tracker import CKDTracker

    videos = (args.visible_video, args.thermal_video)
    if any(videos) and not all(videos):
        raise InputError("--visible-video and --thermal-video go together")
    if all(videos) == bool(args.sequence):
        raise InputError("give either SEQUENCE_DIR or --visible-video with --thermal-video")
    check_output_file(args.out, "--out")
    check_output_file(args.video, "--video")
    init_box = parse_init_box(args.init) if args.init else None
    source = video_source(*videos) if all(videos) else sequence_source(open_sequence_dir(args.sequence))
    tracker = CKDTracker.from_weights(args.weights, args.config, args.device, args.precision,
                                      backend=args.backend, compile=args.compile)
    run = run_tracker(tracker, source, init_box, video=args.video, progress=not args.quiet)
    write_boxes(args.out, run.boxes)
    print(f"{run.name}: {len(run.boxes)} frames in {run.total_seconds:.1f} s | "
          f"model {format_fps(run.fps_model)} FPS | end to end {format_fps(run.fps_end_to_end)} FPS | "
          f"{tracker.config.name}, {args.precision}, {args.device} ({platform.processor() or platform.machine()}, "
          f"{torch.get_num_threads()} threads)")
    print(f"boxes: {args.out}" + (f" | video: {args.video}" if args.video else ""))
    return 0


def register(subparsers) -> None:
    track = subparsers.add_parser("track", help="track a target through one RGB-T sequence",
                                  description=__doc__.splitlines()[0])
    track.add_argument("sequence", nargs="?", metavar="SEQUENCE_DIR",
                       help="folder with visible/rgb/visual/v and infrared/ir/thermal/i frame folders")
    add_model_arguments(track)
    track.add_argument("--init", help="initial box X,Y,W,H (default: first line of init.txt/visible.txt)")
    track.add_argument("--out", required=True, help="output box file, one x,y,w,h line per frame")
    track.add_argument("--video", help="write an MP4 with RGB | thermal side by side and the box")
    track.add_argument("--device", default="cpu", help=DEVICE_HELP)
    track.add_argument("--visible-video", help="visible video file (instead of SEQUENCE_DIR)")
    track.add_argument("--thermal-video", help="thermal video file (instead of SEQUENCE_DIR)")
    track.add_argument("--quiet", action="store_true", help="no progress bar")
    track.set_defaults(func=run_track)
    register_test(subparsers)
    register_tools(subparsers)


def run_test(args: argparse.Namespace) -> int:
    import sys

    from .test_runner import SequencesFailed, TrackerSpec, default_threads, format_summary, parse_devices, \
        run_benchmark

    if args.workers < 1:
        raise InputError("--workers must be at least 1")
    spec = TrackerSpec(args.weights, args.config, args.precision, args.threads or default_threads(args.workers),
                       args.backend, args.compile)
    try:
        summary = run_benchmark(args.benchmark, args.data_root, spec, args.out, workers=args.workers,
                                devices=parse_devices(args.devices), sequences=args.sequences,
                                int_boxes=args.int_boxes, videos=args.videos, progress=not args.quiet,
                                overwrite=args.overwrite)
    except SequencesFailed as failure:
        print(format_summary(failure.summary, args.out))
        print(f"ckdtrack test: error: {failure}", file=sys.stderr)
        return failure.exit_status
    print(format_summary(summary, args.out))
    return 0


def register_test(subparsers) -> None:
    test = subparsers.add_parser("test", help="run the tracker over a benchmark (resumable)",
                                 description="Track every sequence of a benchmark; re-runs skip finished ones.")
    test.add_argument("benchmark", type=normalize_name, choices=NAMES, help=", ".join(NAMES))
    test.add_argument("--data-root", required=True, help="the benchmark's dataset root")
    add_model_arguments(test)
    test.add_argument("--out", required=True, help="results folder (what `ckdtrack eval` reads)")
    test.add_argument("--workers", type=int, default=1, help="worker processes")
    test.add_argument("--devices", default="cpu", help="cpu or cuda:0,cuda:1,... (workers are spread over them)")
    test.add_argument("--threads", type=int, default=0, help="torch threads per worker (default: cores / workers)")
    test.add_argument("--sequences", nargs="+", help="only these sequences")
    test.add_argument("--int-boxes", action="store_true", help="write truncated integer boxes like the published code")
    test.add_argument("--videos", help="also write a side-by-side MP4 per sequence into this folder")
    test.add_argument("--overwrite", action="store_true",
                      help="delete results in --out made by other weights or settings and re-run every sequence")
    test.add_argument("--quiet", action="store_true", help="no progress bars")
    test.set_defaults(func=run_test)


def run_export_onnx(args: argparse.Namespace) -> int:
    from ..models.checkpoint import load_model
    from ..models.onnx import export_onnx

    check_output_file(args.out, "--out")
    model, config = load_model(args.weights, args.config)
    print(f"exporting {config.name} to ONNX (tracing the network takes up to a minute) ...", flush=True)
    export_onnx(model, args.out)
    print(f"wrote {args.out} ({config.name}; inputs: 4 crops"
          f"{' + template mask' if config.model.ce_layers else ''}; outputs: score, size, offset maps)")
    return 0


def run_profile(args: argparse.Namespace) -> int:
    import dataclasses
    import sys

    from ..config import load_config
    from ..models import CKD
    from ..models.ckd import example_inputs
    from .profiling import count_macs, count_parameters, forward_latency, machine_description, profile_tracking, \
        step_table
    from .tracker import CKDTracker

    if args.runs < 1 or args.frames < 2:
        raise InputError("--runs must be at least 1 and --frames at least 2")

    def progress(text: str) -> None:
        print(f"[profile] {text}", file=sys.stderr, flush=True)

    progress("building the network")
    if args.weights:
        tracker = CKDTracker.from_weights(args.weights, args.config, args.device, args.precision, compile=args.compile)
    else:
        config = load_config(args.config or "ckd_vitb")
        tracker = CKDTracker(CKD(config), config, args.device, args.precision, compile=args.compile)
    config, model, device = tracker.config, tracker.network, tracker.device
    inputs = example_inputs(config, device)
    progress("counting MACs")
    macs = count_macs(model, inputs)
    plain = CKD(dataclasses.replace(config, model=dataclasses.replace(config.model, ce_layers=()))).eval()
    plain_macs = count_macs(plain, example_inputs(plain.config))
    progress(f"timing {args.runs} forward passes")
    latency = forward_latency(model, inputs, args.precision, str(device), runs=args.runs)
    progress(f"tracking a generated {args.frames}-frame sequence twice")
    run = profile_tracking(tracker, args.frames)
    print(f"machine:    {machine_description(str(device))}")
    print(f"config:     {config.name} (MCE after blocks {list(config.model.ce_layers) or 'none'}), {args.precision}"
          + (", compiled" if args.compile else ""))
    print(f"parameters: {count_parameters(model) / 1e6:.1f} M")
    print(f"MACs:       {macs / 1e9:.4g} G per frame ({plain_macs / 1e9:.4g} G without elimination)")
    print(f"forward:    {latency * 1e3:.1f} ms median of {args.runs} (batch 1)")
    print(f"tracking:   {format_fps(run.fps_end_to_end)} FPS end to end incl. JPEG decode and crops "
          f"({format_fps(run.fps_model)} FPS model only), {run.tracked_frames} tracked 640x480 JPEG pairs")
    print("\n".join(step_table(run)))
    return 0


def register_tools(subparsers) -> None:
    onnx = subparsers.add_parser("export-onnx", help="export the inference network to ONNX",
                                 description="Export both students and the fused head (MCE included) to ONNX.")
    onnx.add_argument("--weights", required=True, help="inference checkpoint")
    onnx.add_argument("--config", default=None, help="config name or YAML (default: stored in the checkpoint)")
    onnx.add_argument("--out", required=True, help="output .onnx file")
    onnx.set_defaults(func=run_export_onnx)

    profile = subparsers.add_parser("profile", help="parameters, MACs, latency and FPS on this machine")
    profile.add_argument("--config", default=None, help="config name or YAML (default ckd_vitb)")
    profile.add_argument("--weights", help="checkpoint to profile (default: random weights)")
    profile.add_argument("--device", default="cpu", help=DEVICE_HELP)
    profile.add_argument("--precision", choices=PRECISIONS, default="fp32")
    profile.add_argument("--compile", action="store_true", help="torch.compile the network first")
    profile.add_argument("--runs", type=int, default=20, help="timed forward passes (median reported)")
    profile.add_argument("--frames", type=int, default=30, help="frames of the generated end-to-end sequence")
    profile.set_defaults(func=run_profile)
