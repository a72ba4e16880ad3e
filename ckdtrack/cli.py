"""The ``ckdtrack`` command line: a thin layer over the Python API.

Each sub-command lives next to the code it drives, in a ``commands.py`` module that exposes
``register(subparsers)``; the function it installs as ``func`` returns the exit status.
Bad input raises :class:`ckdtrack.errors.InputError`, printed here as one line (exit 2).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from .errors import InputError

COMMAND_MODULES = (
    "ckdtrack.tracking.commands",
    "ckdtrack.evaluation.commands",
    "ckdtrack.data.commands",
    "ckdtrack.training.commands",
    "ckdtrack.demo",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ckdtrack", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name == name:
                continue
            raise
        module.register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"ckdtrack {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ckdtrack {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
