"""gwkit.core.devices: the OpenMP wait policy set on import, CPU threads chosen from what is usable."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gwkit.core import devices
from gwkit.core.devices import _cgroup_cpus, cpu_threads, usable_cpus

REPO = Path(__file__).resolve().parents[2]
PROBE = ("import ctypes, sys; {imports}; "
         "libc = ctypes.CDLL(None); libc.getenv.restype = ctypes.c_char_p; "
         "print(libc.getenv(b'OMP_WAIT_POLICY'), 'torch' in sys.modules)")


def _probe(imports: str, **env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    done = subprocess.run([sys.executable, "-c", PROBE.format(imports=imports)],
                          env={**base, **env}, capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_importing_gwkit_sets_the_passive_policy_in_the_c_environment_before_torch():
    # the C library's environment is what libgomp reads when torch loads it
    assert _probe("import gwkit.train") == "b'PASSIVE' True"


def test_a_policy_the_user_set_is_kept():
    assert _probe("import gwkit", OMP_WAIT_POLICY="ACTIVE") == "b'ACTIVE' False"


def test_torch_first_leaves_the_policy_unset_and_the_thread_line_says_so():
    code = ("import torch, gwkit; from gwkit.core.devices import set_cpu_threads; "
            "print(gwkit.WAIT_POLICY_SET); print(set_cpu_threads(1))")
    base = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    out = subprocess.run([sys.executable, "-c", code], env=base, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert out[0] == "False"
    assert out[1].startswith("1 CPU thread of ") and "torch was imported before gwkit" in out[1]


def test_cgroup_quota_caps_the_cpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    (tmp_path / "cpu.max").write_text("150000 100000\n")
    assert _cgroup_cpus(tmp_path) == pytest.approx(1.5)
    (tmp_path / "cpu.max").write_text("max 100000\n")
    assert _cgroup_cpus(tmp_path) is None
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("300000")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000")
    assert _cgroup_cpus(v1) == pytest.approx(3.0)
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("-1")
    assert _cgroup_cpus(v1) is None
    monkeypatch.setattr(devices, "_cgroup_cpus", lambda: 1.5)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(64)))
    assert usable_cpus() == 1  # a 64-CPU host, a 1.5-CPU container: one thread


def test_threads_requested_then_environment_then_shared_cpus(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(devices, "usable_cpus", lambda: 8)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert cpu_threads() == 8
    assert cpu_threads(processes=3) == 2
    assert cpu_threads(processes=16) == 1
    monkeypatch.setenv("OMP_NUM_THREADS", "3")
    assert cpu_threads() == 3
    assert cpu_threads(5) == 5


def test_usable_cpus_is_within_the_machine():
    assert 1 <= usable_cpus() <= (os.cpu_count() or 1)


@pytest.mark.parametrize("script", sorted((REPO / "benchmarks").glob("*.py")), ids=lambda p: p.name)
def test_benchmarks_import_gwkit_before_torch(script: Path):
    """A script that loads torch first gets spinning OpenMP threads (the policy comes too late)."""
    first: dict[str, int] = {}
    for node in ast.walk(ast.parse(script.read_text())):
        names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                 [node.module or ""] if isinstance(node, ast.ImportFrom) and node.level == 0
                 else [])
        for name in names:
            top = name.split(".")[0]
            if top in ("gwkit", "torch", "timm", "torchvision"):
                key = "gwkit" if top == "gwkit" else "torch"
                first[key] = min(first.get(key, node.lineno), node.lineno)
    if "torch" in first:
        assert "gwkit" in first and first["gwkit"] < first["torch"], (
            f"{script.name}: torch imported on line {first['torch']} before gwkit")
