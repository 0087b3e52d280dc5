"""``gwkit <command> [options]``: every command behind one name.

``gwkit train --fold 0`` runs ``python -m gwkit.train --fold 0`` (the module
run as ``__main__`` by :mod:`runpy`, as ``python -m`` does), so options, help,
output and exit status are the command's own. The commands are the package's
top-level modules, each described by the first line of its docstring; both are
read from the source, so the list cannot drift and ``gwkit --help`` imports
nothing heavy. ``python -m gwkit`` is the same as ``gwkit``.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import pkgutil
import re
import runpy
import sys
from collections.abc import Sequence
from pathlib import Path

import gwkit
from gwkit.core.text import plain_doc

__all__ = ["main"]


def commands() -> dict[str, str]:
    """``{name: one-line description}`` of every top-level module with a ``main``, by name."""
    found = {}
    for info in pkgutil.iter_modules(gwkit.__path__):
        if info.ispkg or info.name.startswith("_"):
            continue
        tree = ast.parse((Path(info.module_finder.path) / f"{info.name}.py").read_text())
        if any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body):
            found[info.name] = _summary(info.name, ast.get_docstring(tree) or "")
    return dict(sorted(found.items()))


def _summary(name: str, doc: str) -> str:
    """The docstring's first line without the command line it may quote (``python -m gwkit.x``:)."""
    first = doc.strip().splitlines()[0] if doc.strip() else ""
    first = re.sub(rf"^``python -m gwkit\.{name}[^`]*``:\s*", "", first)
    first = re.sub(rf":\s*``python -m gwkit\.{name}[^`]*``\.?$", ".", first)
    return plain_doc(first[:1].upper() + first[1:])


def _parser(available: dict[str, str]) -> argparse.ArgumentParser:
    width = max(map(len, available), default=0)
    listing = "\n".join(f"  {name:<{width}}  {text}" for name, text in available.items())
    return argparse.ArgumentParser(
        prog="gwkit", usage="gwkit [-h] [--version] <command> [options]",
        description=f"gwkit {gwkit.__version__}: the starter kit's commands. `gwkit <command> ...` "
                    f"runs `python -m gwkit.<command> ...`.\n\ncommands:\n{listing}",
        epilog="`gwkit <command> --help` shows a command's options.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``gwkit [options] <command> [command options]``; the command's exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    available = commands()
    parser = _parser(available)
    parser.add_argument("--version", action="version", version=f"gwkit {gwkit.__version__}")
    at = next((i for i, arg in enumerate(argv) if not arg.startswith("-")), len(argv))
    parser.parse_args(argv[:at])  # --help and --version exit here, other options are errors
    if at == len(argv):
        raise SystemExit("gwkit: give a command: " + ", ".join(available) + " (gwkit --help)")
    name, args = argv[at], argv[at + 1:]
    if name not in available:
        close = difflib.get_close_matches(name, available, n=1)
        hint = f"did you mean {close[0]}? " if close else ""
        raise SystemExit(f"gwkit: unknown command {name!r}; {hint}commands: {', '.join(available)}")
    saved = sys.argv
    sys.argv = [saved[0] if saved else "gwkit", *args]  # runpy puts the module's path first
    try:
        runpy.run_module(f"gwkit.{name}", run_name="__main__", alter_sys=True)
    finally:
        sys.argv = saved
    return 0


if __name__ == "__main__":
    sys.exit(main())
