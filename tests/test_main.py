"""``gwkit <command>`` (gwkit/__main__.py, the console script): ``python -m gwkit.<command>``
under one name; the command list read from the top-level modules."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gwkit
from gwkit.__main__ import main

#: the commands run again as __main__ after the tests imported them for their own main
pytestmark = pytest.mark.filterwarnings("ignore:'gwkit.* found in sys.modules:RuntimeWarning")
PACKAGE = Path(gwkit.__file__).resolve().parent
#: the top-level modules with a ``main`` (the commands tests/test_layout.py knows)
COMMANDS = sorted(p.stem for p in PACKAGE.glob("*.py") if not p.stem.startswith("_") and any(
    isinstance(n, ast.FunctionDef) and n.name == "main" for n in ast.parse(p.read_text()).body))


def exits(run, argv: list[str], capsys) -> tuple[object, str, str]:
    """(exit code, stdout, stderr) of ``run(argv)``, which ends in SystemExit."""
    with pytest.raises(SystemExit) as exc:
        run(argv)
    return (exc.value.code, *capsys.readouterr())


@pytest.mark.parametrize("name", COMMANDS)
def test_command_help_is_the_modules_own(name, capsys):
    module_main = importlib.import_module(f"gwkit.{name}").main
    code, out, err = exits(module_main, ["--help"], capsys)
    assert code == 0 and out.startswith("usage: python -m gwkit.") and not err
    assert exits(main, [name, "--help"], capsys) == (code, out, err)


def test_exit_status_and_output_pass_through(tmp_path, capsys):
    from gwkit.inspect import main as inspect_main

    np.save(tmp_path / "x.npy", np.zeros((3, 2, 8), np.float32))
    (tmp_path / "notes.txt").write_text("not data")
    for args in ([str(tmp_path / "x.npy")], [str(tmp_path / "notes.txt")]):
        expected = exits(lambda a: sys.exit(inspect_main(a)), args, capsys)
        assert exits(main, ["inspect", *args], capsys) == expected
    assert expected[0] not in (0, None) and expected[2].count("\n") == 1  # the error case
    assert sys.argv[0] != str(PACKAGE / "inspect.py")  # sys.argv restored


@pytest.mark.parametrize(("argv", "message"), [
    (["trian", "--fold", "0"], "gwkit: unknown command 'trian'; did you mean train? commands: "),
    (["trainer"], "gwkit: unknown command 'trainer'; did you mean train? commands: "),
    ([], "gwkit: give a command: "),
])
def test_unknown_or_missing_command_is_one_line(argv, message):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert isinstance(exc.value.code, str) and exc.value.code.startswith(message)  # exit status 1
    assert "\n" not in exc.value.code and ", ".join(COMMANDS) in exc.value.code


def test_the_installed_script_lists_the_commands_and_its_version():
    """One real ``gwkit`` process each (the console script of ``pip install -e .``)."""
    script = Path(sys.executable).parent / "gwkit"
    assert script.is_file(), f"no {script}: install the kit with pip install -e ."
    help_ = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=60)
    assert help_.returncode == 0 and not help_.stderr
    listing = help_.stdout.split("commands:\n")[1].split("\n\n")[0].splitlines()
    assert [line.split()[0] for line in listing] == COMMANDS
    for line in listing:  # each its docstring's first line, markup-free
        text = line.split(None, 1)[1]
        assert text[0].isupper() and text.endswith(".") and "``" not in text, line
        assert "python -m" not in text, line
    version = subprocess.run([str(script), "--version"], capture_output=True, text=True, timeout=60)
    assert (version.returncode, version.stdout) == (0, f"gwkit {gwkit.__version__}\n")
