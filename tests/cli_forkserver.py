"""Run command lines as ``python -m X ...`` would, forked from one warm interpreter.

The bad-input sweeps run hundreds of short command lines; each fresh interpreter spends
about 3 s of CPU importing torch, LALSuite and pandas before the command fails in
milliseconds. This server imports those once, then forks one child per job: the child
changes to the job's folder and environment, points its stdin/stdout/stderr at
/dev/null and two files, and runs the module or script with :mod:`runpy` exactly as the
interpreter's ``-m``/script start does (``SystemExit`` codes and messages, a traceback
and exit 1 for any other exception). The command's own modules (``gwkit.train`` ...)
and anything that reads the environment at import (the Kaggle client) are imported
in the child, never here.

Protocol: one JSON job per stdin line, ``{"argv", "cwd", "env", "stdout", "stderr"}``;
one JSON line back per job, ``{"returncode"}``, in order.
"""

from __future__ import annotations

import json
import os
import runpy
import sys
import traceback

WARM = ("numpy", "scipy.signal", "scipy.special", "pandas", "h5py", "yaml", "torch", "timm",
        "sklearn.metrics", "matplotlib.pyplot", "lal", "lalsimulation", "gwkit.data",
        "gwkit.models", "gwkit.scoring.inference", "gwkit.training.loop")


def _warm_up() -> None:
    import importlib

    import matplotlib

    matplotlib.use("Agg")
    for name in WARM:
        importlib.import_module(name)


def _exit_code(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _run(argv: list[str]) -> int:
    """What ``python *argv`` does after start-up; the exit status."""
    try:
        if argv[0] == "-m":
            sys.argv = [argv[1], *argv[2:]]
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = list(argv)
            sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
            runpy.run_path(argv[0], run_name="__main__")
    except SystemExit as exc:
        return _exit_code(exc)
    except BaseException:  # noqa: BLE001 - the interpreter prints any uncaught exception
        traceback.print_exc()
        return 1
    return 0


def _child(job: dict) -> None:
    os.chdir(job["cwd"])
    os.environ.clear()
    os.environ.update(job["env"])
    for fd, path, flags in ((0, os.devnull, os.O_RDONLY),
                            (1, job["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                            (2, job["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
        opened = os.open(path, flags, 0o644)
        os.dup2(opened, fd)
        os.close(opened)
    sys.stdout = sys.__stdout__
    code = _run(job["argv"])
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code & 0xFF)


def main() -> None:
    _warm_up()
    results = sys.stdout
    sys.stdout = sys.stderr  # nothing but results on the pipe
    for line in sys.stdin:
        job = json.loads(line)
        results.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(job)
        _, status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(status)
        results.write(json.dumps({"returncode": code}) + "\n")
        results.flush()


if __name__ == "__main__":
    main()
