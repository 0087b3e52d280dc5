"""gwkit.core.outputs: a command's outputs checked first and replaced together, or not at all."""

from __future__ import annotations

import os
import signal

import pytest

from gwkit.core.outputs import check_outputs, replace_together


def _files(folder) -> dict[str, str]:
    """Every file under ``folder`` (hidden temporaries included) with its text."""
    return {str(p.relative_to(folder)): p.read_text() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _old_set(tmp_path):
    for name in ("a.csv", "b.npz", "c.json"):
        (tmp_path / name).write_text(f"old {name}")
    return [tmp_path / n for n in ("a.csv", "b.npz", "c.json")]


def test_outputs_appear_together_after_the_block(tmp_path):
    targets = _old_set(tmp_path)
    with replace_together(targets) as staged:
        assert list(staged) == targets
        for target, tmp in staged.items():
            assert tmp.parent == target.parent and tmp.name.startswith(f".{target.name}.tmp-")
            assert tmp.suffix == target.suffix  # writers that append a suffix keep the name
            tmp.write_text(f"new {target.name}")
            assert target.read_text() == f"old {target.name}"  # nothing replaced yet
    assert _files(tmp_path) == {n: f"new {n}" for n in ("a.csv", "b.npz", "c.json")}


def test_a_failed_block_replaces_nothing_and_leaves_no_temporary(tmp_path):
    targets = _old_set(tmp_path)
    before = _files(tmp_path)
    for error in (ValueError("late failure"), KeyboardInterrupt()):
        with pytest.raises(type(error)):
            with replace_together([*targets, tmp_path / "new" / "d.txt"]) as staged:
                for tmp in list(staged.values())[:2]:
                    tmp.write_text("half")
                raise error
        assert _files(tmp_path) == before


def test_renames_follow_the_given_order_and_stop_at_a_failure(tmp_path, monkeypatch):
    """A rename that fails leaves the earlier ones done and removes the later temporaries:
    the caller lists last the file that vouches for the others."""
    targets = _old_set(tmp_path)
    real_replace, renamed = os.replace, []

    def replace(src, dst):
        if str(dst).endswith("b.npz"):
            raise OSError("disk gone")
        renamed.append(os.path.basename(dst))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(OSError, match="disk gone"):
        with replace_together(targets) as staged:
            for target, tmp in staged.items():
                tmp.write_text(f"new {target.name}")
    assert renamed == ["a.csv"]
    assert _files(tmp_path) == {"a.csv": "new a.csv", "b.npz": "old b.npz", "c.json": "old c.json"}


@pytest.fixture
def python_sigint():
    """Python's own Ctrl-C handler, also where pytest was started with SIGINT ignored."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def test_ctrl_c_during_the_renames_waits_until_they_are_done(tmp_path, monkeypatch,
                                                             python_sigint):
    targets = _old_set(tmp_path)
    real_replace = os.replace

    def replace(src, dst):
        real_replace(src, dst)
        if str(dst).endswith("a.csv"):
            signal.raise_signal(signal.SIGINT)  # Ctrl-C after the first rename

    monkeypatch.setattr(os, "replace", replace)
    with pytest.raises(KeyboardInterrupt):
        with replace_together(targets) as staged:
            for target, tmp in staged.items():
                tmp.write_text(f"new {target.name}")
    assert _files(tmp_path) == {n: f"new {n}" for n in ("a.csv", "b.npz", "c.json")}
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_check_outputs_refuses_before_anything_is_made(tmp_path):
    (tmp_path / "folder").mkdir()
    (tmp_path / "file").write_text("x")
    with pytest.raises(OSError, match="folder: cannot write the output file there"):
        check_outputs([tmp_path / "ok.csv", tmp_path / "folder"])
    with pytest.raises(OSError, match="file/out.csv: cannot write there"):
        check_outputs([tmp_path / "file" / "out.csv"])
    with pytest.raises(ValueError, match="named twice"):
        check_outputs([tmp_path / "x.csv", tmp_path / "." / "x.csv"])
    with pytest.raises(OSError):
        with replace_together([tmp_path / "new" / "a.csv", tmp_path / "folder"]):
            raise AssertionError("the block must not run")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "folder"]
    assert check_outputs([tmp_path / "new" / "a.csv"]) == [tmp_path / "new" / "a.csv"]
