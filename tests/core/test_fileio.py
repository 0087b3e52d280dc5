"""gwkit.core.fileio: atomic writes, leftovers of killed writers, writability checks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from gwkit.core.fileio import atomic_path, atomic_write, check_writable, remove_stale_temps

WRITER = """
import sys, time
from gwkit.core.fileio import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_bytes(b"half")
    print(tmp, flush=True)
    time.sleep(60)
"""


def _writer(target: Path) -> tuple[subprocess.Popen, Path]:
    """A process stopped inside an atomic write of ``target``; (process, its temp file)."""
    proc = subprocess.Popen([sys.executable, "-c", WRITER, str(target)], stdout=subprocess.PIPE,
                            text=True)
    return proc, Path(proc.stdout.readline().strip())


def test_kill_9_leftover_is_removed_by_the_next_write(tmp_path):
    target = tmp_path / "best.pt"
    target.write_bytes(b"old")
    proc, tmp = _writer(target)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert tmp.is_file() and tmp.name.startswith(".best.pt.tmp-")
    assert target.read_bytes() == b"old"  # the kill never touched the target
    with atomic_write(tmp_path / "metrics.csv") as fh:  # any write into the folder cleans
        fh.write("epoch\n")
    assert not tmp.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pt", "metrics.csv"]


def test_a_live_writers_temp_file_is_left_alone(tmp_path):
    proc, tmp = _writer(tmp_path / "last.pt")
    try:
        assert remove_stale_temps(tmp_path) == []
        with atomic_path(tmp_path / "last.pt") as mine:
            mine.write_bytes(b"mine")
        assert tmp.is_file()
    finally:
        proc.kill()
        proc.wait()
    assert remove_stale_temps(tmp_path) == [tmp]


def test_foreign_hidden_files_are_never_removed(tmp_path):
    keep = [tmp_path / ".gitignore", tmp_path / ".x.tmp-otherhost-1-abc.pt",
            tmp_path / ".best.pt.abc12345.pt"]
    for p in keep:
        p.write_text("x")
    with atomic_write(tmp_path / "a.txt") as fh:
        fh.write("a")
    assert all(p.is_file() for p in keep)


def test_check_writable(tmp_path):
    deep = tmp_path / "new" / "deeper" / "out.csv"
    assert check_writable(deep) == deep
    assert not (tmp_path / "new").exists()  # nothing created
    (tmp_path / "folder").mkdir()
    with pytest.raises(OSError, match=r"folder.*it is a folder"):
        check_writable(tmp_path / "folder")
    check_writable(tmp_path / "folder", folder=True)
    (tmp_path / "plain").write_text("x")
    with pytest.raises(OSError, match=r"plain is a file, not a folder"):
        check_writable(tmp_path / "plain" / "out.csv")
    with pytest.raises(OSError, match=r"it is a file, not a folder"):
        check_writable(tmp_path / "plain", folder=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["folder", "plain"]
