"""``ckdtrack train`` and ``ckdtrack export-inference``."""

from __future__ import annotations

import argparse
import dataclasses

from ..config import DEVICE_HELP, check_device_name, load_config
from ..errors import InputError


def parse_data_roots(items: list[str]) -> dict[str, str]:
    roots = {}
    for item in items:
        name, sep, folder = item.partition("=")
        if not sep or not name or not folder:
            raise InputError(f"--data-root expects NAME=DIR, got '{item}'")
        roots[name] = folder
    return roots


def run_train(args: argparse.Namespace) -> int:
    from . import train

    config = load_config(args.config)
    if args.epochs is not None:
        if args.epochs < 1:
            raise InputError(f"--epochs must be at least 1, got {args.epochs}")
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, epochs=args.epochs))
    if args.device is not None:
        check_device_name(args.device, "--device")
    out = args.out or f"runs/{config.name}"
    train(config, out, parse_data_roots(args.data_root), init=args.init, init_sha256=args.sha256,
          resume=args.resume, device=args.device, progress=not args.quiet)
    return 0


def run_export(args: argparse.Namespace) -> int:
    from .export import export_inference

    path = export_inference(args.checkpoint, args.out, args.config)
    print(f"wrote {path}")
    return 0


def register(subparsers) -> None:
    train = subparsers.add_parser("train", help="train a CKD model (stage 1 distillation or stage 2 MCE head)",
                                  description="Train a CKD model; run under torchrun for data-parallel training.")
    train.add_argument("--config", required=True, help="bundled config name (ckdtrack config lists them) or a YAML file")
    train.add_argument("--data-root", action="append", default=[], metavar="NAME=DIR",
                       help="root folder of a dataset named in the config (repeatable)")
    train.add_argument("--init", help="initial weights: DropTrack/OSTrack, MAE or CKD checkpoint")
    train.add_argument("--sha256", help="expected sha256 of the --init file")
    train.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    train.add_argument("--out", help="output folder (default runs/<config name>)")
    train.add_argument("--epochs", type=int, help="override train.epochs")
    train.add_argument("--device", help=f"{DEVICE_HELP} (default: train.device)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=run_train)

    export = subparsers.add_parser("export-inference", help="write the inference checkpoint of a training run",
                                   description="Keep the students and the fused head of a training checkpoint.")
    export.add_argument("checkpoint", help="training checkpoint (OUT/checkpoint.pt)")
    export.add_argument("--out", required=True, help="inference checkpoint to write")
    export.add_argument("--config", help="config name or YAML (default: the one stored in the checkpoint)")
    export.set_defaults(func=run_export)
