"""``ckdtrack synth``: write generated RGB-T sequences (synthetic or real imagery) in the LasHeR layout."""

from __future__ import annotations

import argparse
import time

from ..errors import InputError
from .real_pairs import write_real_pairs_dataset
from .synth import write_synthetic_dataset


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "synth",
        help="write generated RGB-T sequences (LasHeR layout) for tests, the demo and CPU training",
        description="Write generated RGB-T sequences in the LasHeR layout (visible/, infrared/, init.txt, "
        "visible.txt, infrared.txt) plus train.txt/test.txt split lists. Deterministic per seed. "
        "--source synthetic draws textured blobs; --source real-pairs moves real objects cut from "
        "registered RGB-T still pairs (--pairs DIR) over real backgrounds. "
        "Open them with open_benchmark('lasher', root=OUT_DIR, split='train').",
    )
    parser.add_argument("out_dir", metavar="OUT_DIR", help="folder to write the sequences into")
    parser.add_argument("--source", choices=("synthetic", "real-pairs"), default="synthetic",
                        help="synthetic blobs (default) or real objects from registered still pairs")
    parser.add_argument("--pairs", metavar="DIR",
                        help="with --source real-pairs: folder of <set>/visible + <set>/infrared pairs")
    parser.add_argument("--sequences", type=int, default=8, help="number of sequences (default 8)")
    parser.add_argument("--frames", type=int, default=60, help="frames per sequence (default 60)")
    parser.add_argument("--size", type=_parse_size, default=(320, 256), help="frame size WxH (default 320x256)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--test-fraction", type=float, default=0.25,
                        help="share of sequences listed in test.txt (default 0.25)")
    parser.add_argument("--jpeg-quality", type=int, default=90, help="JPEG quality 1-100 (default 90)")
    parser.add_argument("--workers", type=int, default=2, help="threads writing sequences (default 2)")
    parser.add_argument("--cuts", type=int, default=0,
                        help="with --source real-pairs: scene cuts per sequence, where the view and the target "
                             "jump (for testing re-detection; default 0)")
    parser.add_argument("--frame-step", type=_parse_steps, default=(1,), metavar="N[,N...]",
                        help="with --source real-pairs: show every Nth moment of the motion, as a camera at "
                             "1/N of the frame rate (fast motion), N drawn per sequence from the list (default 1)")
    parser.add_argument("--camouflage", type=float, default=0.0, metavar="SHARE",
                        help="with --source real-pairs: share of sequences whose target barely shows in the "
                             "visible image (default 0)")
    parser.set_defaults(func=run_synth)


def run_synth(args: argparse.Namespace) -> int:
    if not 1 <= args.jpeg_quality <= 100:
        raise InputError(f"--jpeg-quality must be in 1..100, got {args.jpeg_quality}")
    if args.source == "real-pairs" and not args.pairs:
        raise InputError("--source real-pairs needs --pairs DIR (a folder of registered RGB-T still pairs)")
    if args.pairs and args.source != "real-pairs":
        raise InputError("--pairs is only used with --source real-pairs")
    if args.cuts and args.source != "real-pairs":
        raise InputError("--cuts is only used with --source real-pairs")
    if args.frame_step != (1,) and args.source != "real-pairs":
        raise InputError("--frame-step is only used with --source real-pairs")
    if args.camouflage and args.source != "real-pairs":
        raise InputError("--camouflage is only used with --source real-pairs")
    start = time.perf_counter()
    common = dict(sequences=args.sequences, frames=args.frames, size=args.size, seed=args.seed,
                  test_fraction=args.test_fraction, jpeg_quality=args.jpeg_quality, workers=args.workers)
    if args.source == "real-pairs":
        names = write_real_pairs_dataset(args.out_dir, args.pairs, cuts=args.cuts, frame_steps=args.frame_step,
                                         camouflage=args.camouflage, **common)
    else:
        names = write_synthetic_dataset(args.out_dir, **common)
    elapsed = time.perf_counter() - start
    print(f"wrote {len(names)} sequences ({args.source}) x {args.frames} frames ({args.size[0]}x{args.size[1]}) "
          f"to {args.out_dir} in {elapsed:.1f} s")
    return 0


def _parse_steps(text: str) -> tuple[int, ...]:
    try:
        steps = tuple(int(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected whole numbers like 1,2,4, got '{text}'") from None
    if any(step < 1 for step in steps):
        raise argparse.ArgumentTypeError(f"frame steps must be >= 1, got {text}")
    return steps


def _parse_size(text: str) -> tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected WxH like 320x256, got '{text}'") from None
    if width < 32 or height < 32:
        raise argparse.ArgumentTypeError(f"frames must be at least 32x32, got {text}")
    return width, height
