"""The package's layering, read from its source: models <- data <- tracking / training /
evaluation <- cli, no import cycles, and no torch on the paths of the commands that run no
network."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "ckdtrack"

# Layer of each module, by longest matching prefix; a module may import its own layer and below.
LAYERS = {
    "ckdtrack": 0, "ckdtrack.errors": 0, "ckdtrack.io": 0, "ckdtrack.boxes": 0, "ckdtrack.geometry": 0,
    "ckdtrack.config": 0,
    "ckdtrack.models": 1,
    "ckdtrack.data": 2,
    "ckdtrack.tracking": 3, "ckdtrack.training": 3, "ckdtrack.evaluation": 3,
    "ckdtrack.demo": 4, "ckdtrack.cli": 4, "ckdtrack.__main__": 4,
}
# Packages of one layer that must stay independent of each other.
PEERS = ("ckdtrack.tracking", "ckdtrack.training", "ckdtrack.evaluation")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every ckdtrack module ``path`` imports, at the top or inside functions."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.add(target)
            found.update(f"{target}.{alias.name}" for alias in node.names)
    modules = {module_name(p) for p in PACKAGE.rglob("*.py")}
    return {m for m in found if m in modules and m != name}


def layer(name: str) -> int:
    matches = [prefix for prefix in LAYERS if name == prefix or name.startswith(prefix + ".")]
    if not matches:
        pytest.fail(f"{name}: no layer assigned in tests/test_layering.py")
    return LAYERS[max(matches, key=len)]


def peer(name: str) -> str | None:
    return next((p for p in PEERS if name == p or name.startswith(p + ".")), None)


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    return {module_name(path): imports_of(path) for path in PACKAGE.rglob("*.py")}


def test_no_module_imports_a_higher_layer_or_a_peer_package(graph):
    wrong = []
    for source, targets in graph.items():
        for target in targets:
            if layer(target) > layer(source):
                wrong.append(f"{source} -> {target}")
            elif peer(source) and peer(target) and peer(source) != peer(target):
                wrong.append(f"{source} -> {target} (peer packages)")
    assert not wrong, "\n".join(sorted(wrong))


def test_no_import_cycles(graph):
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if target.startswith(node + "."):
                continue  # a package's __init__ exposing its own submodule
            if state.get(target) == 1:
                cycle = stack[stack.index(target):] + [target]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)


@pytest.mark.parametrize("argv", [["--help"], ["eval", "--help"], ["config", "ckd_vitb_mce"], ["synth", "--help"],
                                  ["test", "--help"], ["track", "--help"]])
def test_commands_that_run_no_network_do_not_import_torch(argv):
    code = ("import sys\nfrom ckdtrack.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit:\n    pass\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    result = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_command_table_names_every_registered_command():
    from ckdtrack.cli import COMMAND_MODULES, build_parser

    parser = build_parser()
    registered = next(a for a in parser._actions if a.dest == "command").choices
    assert set(registered) == set(COMMAND_MODULES)
    for command, module in COMMAND_MODULES.items():
        assert command in next(a for a in build_parser(command)._actions if a.dest == "command").choices, module
