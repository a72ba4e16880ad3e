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

# The module that registers each command: only the chosen command's module is imported, so a
# command pays for no other command's imports (tests/test_layering.py checks this table).
COMMAND_MODULES = {
    "track": "ckdtrack.tracking.commands",
    "test": "ckdtrack.tracking.commands",
    "export-onnx": "ckdtrack.tracking.commands",
    "profile": "ckdtrack.tracking.commands",
    "eval": "ckdtrack.evaluation.commands",
    "synth": "ckdtrack.data.commands",
    "train": "ckdtrack.training.commands",
    "export-inference": "ckdtrack.training.commands",
    "demo": "ckdtrack.demo",
    "config": "ckdtrack.config",
}
# Options whose value may start with a minus sign (a box left of or above the image).
SIGNED_VALUE_OPTIONS = ("--init",)
NEGATIVE_NUMBER = re.compile(r"^-\d|^-\.\d")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``command`` alone when it is known, else of every command (for help and
    for the error listing them)."""
    parser = argparse.ArgumentParser(prog="ckdtrack", description=__doc__.splitlines()[0])
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    modules = [COMMAND_MODULES[command]] if command in COMMAND_MODULES else dict.fromkeys(COMMAND_MODULES.values())
    for name in modules:
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
    argv = attach_signed_values(sys.argv[1:] if argv is None else list(argv))
    command = next((item for item in argv if not item.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
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
