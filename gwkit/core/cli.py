"""What every command's entry point shares: its exit status, and Ctrl-C as one line.

Each command ends with ``sys.exit(run_main(main, "gwkit.<name>"))``. Ctrl-C
(``KeyboardInterrupt``) then ends the process with status 130 (128 + SIGINT, as a
shell reports it) and one line on stderr instead of a traceback. Outputs are
staged in temporary files (:mod:`gwkit.core.fileio`, :mod:`gwkit.core.outputs`)
that the interrupted ``with`` blocks have already removed, so the line can say
that nothing was replaced; a command that keeps resumable state says how to
resume instead. A reader that stops early (``| head``) ends the command quietly.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Callable
from typing import Any

__all__ = ["DEVICE_HELP", "INTERRUPTED", "CommandParser", "SIGINT_STATUS", "nonfinite_option",
           "run_main"]

#: exit status of a command stopped by Ctrl-C
SIGINT_STATUS = 130
#: exit status of a command whose reader closed its output (128 + SIGPIPE)
SIGPIPE_STATUS = 141
#: the line of an interrupted command whose outputs are written all at once
INTERRUPTED = "interrupted; nothing was replaced"
#: ``--device`` help of the commands that run models (:func:`gwkit.core.devices.pick_device`)
DEVICE_HELP = "auto (cuda > mps > cpu), cpu, cuda:0, ..."


class CommandParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose usage errors are one line (``prog: error: ...``,
    exit 2) instead of the usage block and the error: the rule of every other error."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def run_main(main: Callable[[], Any], prog: str, interrupted: str = INTERRUPTED) -> int:
    """Run a command's ``main()``; its exit status (``main``'s int, else 0).

    Ctrl-C prints ``<prog>: <interrupted>`` on stderr and returns :data:`SIGINT_STATUS`.
    """
    try:
        status = main()
    except KeyboardInterrupt:
        sys.stdout.flush()
        print(f"{prog}: {interrupted}", file=sys.stderr, flush=True)
        return SIGINT_STATUS
    except BrokenPipeError:
        # nobody reads stdout any more: point it at /dev/null so the exit flush is quiet
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return SIGPIPE_STATUS
    return status if isinstance(status, int) and not isinstance(status, bool) else 0


def nonfinite_option(args: Any) -> str | None:
    """``--name value`` of the first float option of the parsed ``args`` (a number, or a list
    of them) that is NaN or infinite (argparse's ``float`` reads ``nan`` and ``inf``), else
    None; commands refuse it in one line before any work."""
    for key, value in vars(args).items():
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, float) and not math.isfinite(item):
                return f"--{key.replace('_', '-')} {item}"
    return None
