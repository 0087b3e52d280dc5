"""gwkit.core.cli.run_main: a command's exit status; Ctrl-C as one line and 130."""

from __future__ import annotations

import pytest

from gwkit.core.cli import INTERRUPTED, SIGINT_STATUS, run_main


def test_exit_status_is_mains_int_else_0():
    assert run_main(lambda: 3, "gwkit.x") == 3
    assert run_main(lambda: {0: {"auc": 0.9}}, "gwkit.train") == 0  # train returns its metrics
    assert run_main(lambda: None, "gwkit.x") == 0
    assert run_main(lambda: True, "gwkit.x") == 0


def test_ctrl_c_is_one_line_and_130(capsys):
    def interrupted():
        print("working", flush=True)
        raise KeyboardInterrupt

    assert run_main(interrupted, "gwkit.predict") == SIGINT_STATUS == 130
    out, err = capsys.readouterr()
    assert out == "working\n" and err == f"gwkit.predict: {INTERRUPTED}\n"
    assert run_main(interrupted, "gwkit.train", "interrupted; resume with --resume") == 130
    assert capsys.readouterr().err == "gwkit.train: interrupted; resume with --resume\n"


def test_other_errors_pass_through():
    def fails():
        raise SystemExit("gwkit.x: a one-line error")

    with pytest.raises(SystemExit, match="one-line error"):
        run_main(fails, "gwkit.x")
