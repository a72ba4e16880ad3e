"""The ``ckdtrack`` command line: a thin layer over the Python API.

Each sub-command lives next to the code it drives, in a module that exposes
``register(subparsers)``; the function it installs as ``func`` returns the exit status. Those
modules import nothing heavy at the top, so ``ckdtrack --help`` and the commands that run no
network never import torch. Bad input raises :class:`ckdtrack.errors.InputError`, printed here
as one line (exit 2).
"""

from __future__ import annotations

import argparse
import importlib
import re
import signal
import sys

from .errors import InputError

COMMAND_MODULES = (
    "ckdtrack.tracking.commands",
    "ckdtrack.evaluation.commands",
    "ckdtrack.data.commands",
    "ckdtrack.training.commands",
    "ckdtrack.demo",
    "ckdtrack.config",
)
# Options whose value may start with a minus sign (a box left of or above the image).
SIGNED_VALUE_OPTIONS = ("--init",)
NEGATIVE_NUMBER = re.compile(r"^-\d|^-\.\d")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="ckdtrack", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
    return parser


def attach_signed_values(argv: list[str]) -> list[str]:
    """``--init -100,20,40,60`` as ``--init=-100,20,40,60``: argparse would take the value for
    an option."""
    joined: list[str] = []
    index = 0
    while index < len(argv):
        item = argv[index]
        if item in SIGNED_VALUE_OPTIONS and index + 1 < len(argv) and NEGATIVE_NUMBER.match(argv[index + 1]):
            joined.append(f"{item}={argv[index + 1]}")
            index += 2
            continue
        joined.append(item)
        index += 1
    return joined


def _terminate(signum, frame):
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(attach_signed_values(sys.argv[1:] if argv is None else list(argv)))
    previous = signal.signal(signal.SIGTERM, _terminate)  # a killed run cleans up like Ctrl-C
    try:
        return int(args.func(args) or 0)
    except InputError as exc:
        print(f"ckdtrack {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"ckdtrack {args.command}: interrupted", file=sys.stderr)
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
