"""gwkit.core.runlock: one writer per run folder, stale locks of dead processes taken over."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from gwkit.core.runlock import LOCK_FILE, RunLocked, run_lock

REPO = Path(__file__).resolve().parents[2]

HOLDER = textwrap.dedent("""
    import sys
    from gwkit.core.runlock import run_lock
    with run_lock(sys.argv[1], command="holder"):
        print("locked", flush=True)
        sys.stdin.read()  # until the test closes stdin (or kills us)
    print("released", flush=True)
""")


def _holder(folder: Path) -> subprocess.Popen:
    """Another process holding ``folder``'s lock (it has said so when this returns)."""
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(folder)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_second_process_is_refused_until_the_first_releases(tmp_path):
    run = tmp_path / "runs" / "a"
    holder = _holder(run)
    try:
        lock = run / LOCK_FILE
        info = json.loads(lock.read_text())
        assert info["pid"] == holder.pid and info["host"] == socket.gethostname()
        with pytest.raises(RunLocked) as refused:
            with run_lock(run):
                raise AssertionError("two writers")
        message = str(refused.value)
        assert f"pid {holder.pid} on host {socket.gethostname()} (holder" in message
        assert f"lock file {lock}" in message and "\n" not in message
        assert lock.is_file()  # the holder's lock is left alone
    finally:
        holder.stdin.close()
        assert holder.stdout.readline().strip() == "released"
        holder.wait(timeout=30)
    assert not run.exists()  # the holder made the folder for its lock and removed it, empty
    with run_lock(run) as lock:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert not run.exists()


def test_the_lock_of_a_killed_process_is_taken_over_with_one_line(tmp_path):
    run = tmp_path / "run"
    (run / "fold0").mkdir(parents=True)
    holder = _holder(run)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    assert json.loads((run / LOCK_FILE).read_text())["pid"] == holder.pid  # left behind
    lines = []
    with run_lock(run, log=lines.append) as lock:
        assert json.loads(lock.read_text())["pid"] == os.getpid()
    assert len(lines) == 1 and f"took over the stale lock {run / LOCK_FILE} of pid {holder.pid}" \
        in lines[0]
    assert sorted(os.listdir(run)) == ["fold0"]  # no lock, no leftover


def _write_lock(run: Path, **info) -> None:
    run.mkdir(parents=True, exist_ok=True)
    (run / LOCK_FILE).write_text(json.dumps(info))


def test_a_lock_that_cannot_be_judged_is_refused(tmp_path):
    run = tmp_path / "run"
    _write_lock(run, pid=os.getppid(), host=socket.gethostname())  # a live pid, no flock
    with pytest.raises(RunLocked, match=f"in use by pid {os.getppid()} on host"):
        with run_lock(run):
            pass
    _write_lock(run, pid=1, host="elsewhere-node-7", command="python -m gwkit.train")
    with pytest.raises(RunLocked, match="pid 1 on host elsewhere-node-7 .python -m gwkit.train"):
        with run_lock(run):
            pass
    (run / LOCK_FILE).unlink()
    (run / "target").write_text("not a lock")
    (run / LOCK_FILE).symlink_to(run / "target")
    with pytest.raises(RunLocked, match="cannot read the run's lock file"):
        with run_lock(run):
            pass
    assert (run / "target").read_text() == "not a lock"


def test_an_unreadable_lock_of_nobody_is_stale(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / LOCK_FILE).write_bytes(b"\xff garbage")
    (run / f"{LOCK_FILE}.new-abc").write_text("{}")  # left by a process killed while locking
    lines = []
    with run_lock(run, log=lines.append):
        assert not (run / f"{LOCK_FILE}.new-abc").exists()
    assert len(lines) == 1 and "pid ? on host ?" in lines[0]


def test_a_folder_made_for_the_lock_goes_away_when_empty(tmp_path):
    with pytest.raises(ValueError):
        with run_lock(tmp_path / "runs" / "new"):
            raise ValueError("a check failed after the lock")
    assert list(tmp_path.iterdir()) == []
    with run_lock(tmp_path / "runs" / "new") as lock:
        (lock.parent / "config.yaml").write_text("x")
    assert sorted(os.listdir(tmp_path / "runs" / "new")) == ["config.yaml"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError, match="cannot write there"):
        with run_lock(tmp_path / "file" / "run"):
            pass
