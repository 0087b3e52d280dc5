"""The house rule: top-level modules are the commands, libraries live in packages, none imports a command.

Read from the source (``ast``), not by importing: a command module is one
with a ``main`` that ``python -m gwkit.<name>`` runs. Tests and benchmarks
may import a command only for its ``main`` (to run it in-process).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "gwkit"
COMMANDS = {"download", "evaluate", "export", "hybrid", "inspect", "predict", "scan", "simulate",
            "submit", "train"}
DISPATCHER = "__main__"  # `gwkit <command>` / `python -m gwkit`: a command that runs the others
STAGES = {"core", "data", "engine", "models", "scoring", "sim", "strain", "training"}


def _imports(path: Path) -> list[tuple[str, list[str], int]]:
    """(module, imported names, line) of every absolute import in ``path``."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [a.name for a in node.names]
            out.append((node.module, names, node.lineno))
            if node.module == "gwkit":  # from gwkit import simulate
                out += [(f"gwkit.{n}", [], node.lineno) for n in names]
    return out


def _command_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) >= 2 and parts[0] == "gwkit" and parts[1] in COMMANDS | {DISPATCHER} \
        else None


def test_top_level_modules_are_exactly_the_commands():
    top = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", DISPATCHER}
    assert top == COMMANDS, f"libraries belong in a package: {sorted(top - COMMANDS)}"
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").is_file()}
    assert packages == STAGES
    for name in COMMANDS | {DISPATCHER}:
        tree = ast.parse((PACKAGE / f"{name}.py").read_text())
        assert any(isinstance(n, ast.FunctionDef) and n.name == "main" for n in tree.body), name


@pytest.mark.parametrize("path", sorted(p for stage in STAGES for p in (PACKAGE / stage).rglob("*.py")),
                         ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_package_module_imports_a_command_or_a_private_name(path: Path):
    for module, names, line in _imports(path):
        assert _command_of(module) is None, f"{path.name}:{line} imports the command {module}"
        if module.startswith("gwkit.") and module != _module_name(path):
            private = [n for n in names if n.startswith("_")]
            assert not private, f"{path.name}:{line} imports private {private} from {module}"


def _module_name(path: Path) -> str:
    return ".".join(path.relative_to(REPO).with_suffix("").parts)


@pytest.mark.parametrize("path", sorted([*(REPO / "tests").rglob("*.py"),
                                          *(REPO / "benchmarks").glob("*.py")]),
                         ids=lambda p: str(p.relative_to(REPO)))
def test_tests_and_benchmarks_import_a_command_only_to_run_it(path: Path):
    for module, names, line in _imports(path):
        if _command_of(module) and names:
            assert names == ["main"], f"{path.relative_to(REPO)}:{line} imports {names} from " \
                                      f"the command {module}: library code lives in a package"


def test_no_library_raises_system_exit():
    """Only a command's main ends the process; libraries raise gwkit.core.errors.GwkitError."""
    for stage in STAGES:
        for path in (PACKAGE / stage).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.ClassDef):
                    bases = {getattr(b, "id", getattr(b, "attr", "")) for b in node.bases}
                    assert "SystemExit" not in bases, f"{path.name}: {node.name}"
                if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                    func = node.exc.func
                    assert getattr(func, "id", "") != "SystemExit", \
                        f"{path.relative_to(REPO)}:{node.lineno} raises SystemExit"


#: the stages each stage may import (the data flow: sim -> data / engine -> models ->
#: training -> scoring; strain beside scoring; core under everything)
MAY_IMPORT = {
    "core": set(),
    "sim": {"core"},
    "data": {"core", "sim"},
    "engine": {"core", "sim", "data"},
    "models": {"core", "sim"},
    "training": {"core", "sim", "data", "engine", "models"},
    "scoring": {"core", "sim", "data", "engine", "models", "training"},
    "strain": {"core", "sim", "data", "models", "scoring"},
}


def test_stages_import_only_the_stages_before_them():
    assert set(MAY_IMPORT) == STAGES
    for stage, allowed in MAY_IMPORT.items():
        for path in (PACKAGE / stage).rglob("*.py"):
            for module, _, line in _imports(path):
                parts = module.split(".")
                if parts[0] == "gwkit" and len(parts) > 1 and parts[1] in STAGES:
                    assert parts[1] in allowed | {stage}, \
                        f"{path.relative_to(REPO)}:{line} ({stage}) imports {module}"
