"""gwkit.core.fileio: atomic writes, leftovers of killed writers, writability checks, links,
paths read from files, archives."""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import pytest

from gwkit.core.errors import DataError, GwkitError, UnsafePathError
from gwkit.core.fileio import (
    atomic_path,
    atomic_write,
    check_writable,
    copy_file,
    extract_zip,
    link_on_path,
    remove_stale_temps,
    resolve_inside,
)

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


# --------------------------------------------------------------------------- links


@pytest.fixture
def outside(tmp_path) -> Path:
    """A file outside the folders written to, which no test may change."""
    path = tmp_path / "outside" / "precious"
    path.parent.mkdir()
    path.write_bytes(b"precious")
    return path


def test_an_output_named_by_a_link_is_refused_not_followed(tmp_path, outside):
    out = tmp_path / "out"
    out.mkdir()
    (out / "sub.csv").symlink_to(outside)
    (out / "dangling.csv").symlink_to(tmp_path / "nowhere" / "x")
    for name in ("sub.csv", "dangling.csv"):
        with pytest.raises(UnsafePathError, match=f"{name}: refusing to write through a "
                                                  "symbolic link") as err:
            with atomic_write(out / name) as fh:
                fh.write("new")
        assert isinstance(err.value, OSError) and isinstance(err.value, GwkitError)
        with pytest.raises(UnsafePathError, match="symbolic link"):
            check_writable(out / name)
    assert outside.read_bytes() == b"precious" and not (tmp_path / "nowhere").exists()
    assert (out / "sub.csv").is_symlink()  # the link is left as the user made it
    assert sorted(p.name for p in out.iterdir()) == ["dangling.csv", "sub.csv"]  # no temp


def test_links_below_the_named_folder_are_refused_the_folder_itself_may_be_one(tmp_path,
                                                                               outside):
    disk = tmp_path / "disk"
    disk.mkdir()
    (tmp_path / "runs").symlink_to(disk)  # the user's own choice: followed
    run = tmp_path / "runs" / "tiny"
    with atomic_write(run / "config.yaml", root=run) as fh:
        fh.write("lr: 0.001\n")
    assert (disk / "tiny" / "config.yaml").read_text() == "lr: 0.001\n"
    check_writable(run, folder=True)
    (run / "fold0").symlink_to(outside.parent)  # inside the run: never written through
    assert link_on_path(run / "fold0" / "best.pt", run) == run / "fold0"
    assert link_on_path(run / "fold0" / "best.pt") is None  # without root: the name only
    with pytest.raises(UnsafePathError, match=r"fold0 points to .*outside"):
        with atomic_path(run / "fold0" / "best.pt", root=run) as tmp:
            tmp.write_bytes(b"weights")
    with pytest.raises(UnsafePathError, match="symbolic link"):
        check_writable(run / "fold0", folder=True, root=run)
    with pytest.raises(UnsafePathError, match="symbolic link"):
        check_writable(run / "fold0" / "best.pt", root=run)
    assert sorted(p.name for p in outside.parent.iterdir()) == ["precious"]


def test_copy_file_is_atomic_and_never_writes_through_a_link(tmp_path, outside):
    source = tmp_path / "bank.h5"
    source.write_bytes(b"bank")
    assert copy_file(source, tmp_path / "run" / "mf_bank.h5").read_bytes() == b"bank"
    (tmp_path / "run" / "other.h5").symlink_to(outside)
    with pytest.raises(UnsafePathError):
        copy_file(source, tmp_path / "run" / "other.h5")
    assert outside.read_bytes() == b"precious"
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == ["mf_bank.h5", "other.h5"]


def test_paths_read_from_a_file_stay_inside_its_folder(tmp_path, outside):
    run = tmp_path / "run"
    (run / "sub").mkdir(parents=True)
    (run / "sub" / "bank.h5").write_bytes(b"x")
    (run / "alias.h5").symlink_to(run / "sub" / "bank.h5")  # a link that stays inside: fine
    src = run / "stacker.json"
    assert resolve_inside(run, "sub/bank.h5", source=src) == run / "sub" / "bank.h5"
    assert resolve_inside(run, "alias.h5", source=src) == run / "alias.h5"
    (run / "out.h5").symlink_to(outside)
    refused = {str(outside): "must be relative", "../outside/precious": "without '..'",
               "sub/../../outside/precious": "without '..'", "C:\\x": "must be relative",
               "": "expected the relative path", "out.h5": "leads outside"}
    for name, why in refused.items():
        with pytest.raises(UnsafePathError, match=why) as err:
            resolve_inside(run, name, source=src)
        assert str(err.value).startswith(f"{src}: ")
    with pytest.raises(UnsafePathError, match="found 3"):
        resolve_inside(run, 3, source=src)


# --------------------------------------------------------------------------- archives


def _zip(path: Path, *members: tuple[str, bytes], link: tuple[str, str] | None = None) -> Path:
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w") as z:
        warnings.simplefilter("ignore")  # "Duplicate name": one case wants one
        for name, data in members:
            z.writestr(name, data)
        if link is not None:
            info = zipfile.ZipInfo(link[0])
            info.create_system, info.external_attr = 3, (stat.S_IFLNK | 0o777) << 16
            z.writestr(info, link[1])
    return path


def _tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() if p.is_file() else b"<dir>"
            for p in sorted(folder.rglob("*"))}


def test_extract_zip_writes_regular_files_inside_dest(tmp_path):
    archive = _zip(tmp_path / "a.zip", ("test.npy", b"new"), ("sub/deep/x.csv", b"x"),
                   ("./y.csv", b"y"))
    dest = tmp_path / "data"
    (dest / "sub").mkdir(parents=True)
    (dest / "test.npy").write_bytes(b"old")
    (dest / "keep.txt").write_bytes(b"keep")
    written = extract_zip(archive, dest)
    assert written == [dest / "test.npy", dest / "sub" / "deep" / "x.csv", dest / "y.csv"]
    assert _tree(dest) == {"keep.txt": b"keep", "sub": b"<dir>", "sub/deep": b"<dir>",
                           "sub/deep/x.csv": b"x", "test.npy": b"new", "y.csv": b"y"}


@pytest.mark.parametrize("members, link, why", [
    ((("../escaped", b"e"),), None, "member '../escaped' has an unsafe name"),
    ((("a/../../escaped", b"e"),), None, "unsafe name"),
    ((("/tmp/gwkit-fileio-escaped", b"e"),), None, "unsafe name"),
    ((("C:/escaped", b"e"),), None, "unsafe name"),
    ((("..\\escaped", b"e"),), None, "unsafe name"),
    ((), ("test.npy", "../outside/precious"), "member 'test.npy' is a symbolic link"),
    ((("x.csv", b"1"), ("x.csv", b"2")), None, "member 'x.csv' appears twice"),
], ids=["dotdot", "inner-dotdot", "absolute", "drive", "backslash", "link", "twice"])
def test_an_unsafe_archive_is_refused_whole(tmp_path, outside, members, link, why):
    archive = _zip(tmp_path / "a.zip", ("good.csv", b"good"), *members, link=link)
    dest = tmp_path / "data"
    dest.mkdir()
    (dest / "good.csv").write_bytes(b"old")
    with pytest.raises(UnsafePathError, match=why):
        extract_zip(archive, dest, label="the archive")
    assert _tree(dest) == {"good.csv": b"old"}  # nothing written, no staging folder left
    assert _tree(tmp_path / "outside") == {"precious": b"precious"}
    assert not (tmp_path / "escaped").exists() and not Path("/tmp/gwkit-fileio-escaped").exists()


def test_extract_zip_never_writes_through_a_link_in_dest(tmp_path, outside):
    archive = _zip(tmp_path / "a.zip", ("good.csv", b"good"), ("test.npy", b"new"),
                   ("extra/n.txt", b"n"))
    for link, target in (("test.npy", outside), ("extra", outside.parent)):
        dest = tmp_path / f"data-{link}"
        dest.mkdir()
        (dest / link).symlink_to(target)
        with pytest.raises(UnsafePathError, match=f"{link}.*symbolic link"):
            extract_zip(archive, dest)
        assert sorted(p.name for p in dest.iterdir()) == [link]
    assert _tree(tmp_path / "outside") == {"precious": b"precious"}


def test_extract_zip_check_and_bad_archives_leave_dest_unchanged(tmp_path):
    archive = _zip(tmp_path / "a.zip", ("test.npy", b"new"))
    dest = tmp_path / "data"
    dest.mkdir()
    (dest / "test.npy").write_bytes(b"old")
    seen = []

    def check(staged: Path) -> None:
        seen.append((staged.parent, (staged / "test.npy").read_bytes()))
        raise DataError("not an array")

    with pytest.raises(DataError, match="not an array"):
        extract_zip(archive, dest, check=check)
    assert seen == [(dest, b"new")] and _tree(dest) == {"test.npy": b"old"}
    (tmp_path / "b.zip").write_bytes(b"PK not really")
    with pytest.raises(DataError, match="b.zip: not a readable zip archive"):
        extract_zip(tmp_path / "b.zip", dest)
    (dest / "sub").write_bytes(b"a file where the archive has a folder")
    with pytest.raises(OSError, match="sub is a file"):
        extract_zip(_zip(tmp_path / "c.zip", ("sub/x", b"x")), dest)
    assert _tree(dest) == {"sub": b"a file where the archive has a folder", "test.npy": b"old"}
