"""Argument handling of the benchmark scripts (their measurements are not tests)."""

import importlib.util
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    ("spec", "label", "paths"),
    [
        ("weights/gwkit_resnet/", "weights/gwkit_resnet", ["weights/gwkit_resnet/"]),
        ("cnn=weights/gwkit_cnn", "cnn", ["weights/gwkit_cnn"]),
        ("f0=weights/gwkit_resnet/fold0.pt", "f0", ["weights/gwkit_resnet/fold0.pt"]),
        ("all=runs/a+runs/b", "all", ["runs/a", "runs/b"]),
        ("runs/a+runs/b", "runs/a+runs/b", ["runs/a", "runs/b"]),
    ],
)
def test_sensitivity_run_specs(spec, label, paths):
    assert _load("sensitivity").parse_run_spec(spec) == (label, paths)


def test_sensitivity_run_spec_without_a_run_is_an_error():
    with pytest.raises(SystemExit, match="names no run"):
        _load("sensitivity").parse_run_spec("label=")


def test_sensitivity_table_has_the_partial_auc_row(synthetic_scores):
    from gwkit.data.labelled import ScoreSet
    from gwkit.scoring.report import evaluate_set

    df = synthetic_scores()
    report = evaluate_set(ScoreSet("a", df["target"], df["score"], df["snr"]), n_boot=10)
    rows = {line[:12].strip(): line[12:].split() for line in
            _load("sensitivity").table({"a": report}).splitlines()}
    assert rows["pAUC<=1e-3"] == [f"{report['pauc']:.4f}*"]  # 90 noise rows: unresolved


def test_gpu_smoke_runs_its_cpu_fallback(tmp_path):
    """benchmarks/gpu_smoke.py on the CPU: every stage runs (compile and the train CLI are
    CUDA-only), reports a rate and a peak memory, and the script exits 0."""
    import json
    import subprocess
    import sys

    out = tmp_path / "smoke.json"
    done = subprocess.run([sys.executable, str(BENCHMARKS / "gpu_smoke.py"), "--device", "cpu",
                           "--json", str(out)], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    rows = {r["stage"]: r for r in json.loads(out.read_text())["rows"]}
    skipped = {name for name, r in rows.items() if r["status"].startswith("skipped")}
    assert skipped == {"train torch.compile", "train CLI (torchrun)"}
    ran = [r for name, r in rows.items() if name not in skipped]
    assert {r["stage"] for r in ran} == {
        "engine", "train fp32", "train bf16 autocast", "ddp (torchrun, gloo)",
        "predict (gwkit.scoring.inference)", "matched filter (mf_features)", "predict CLI"}
    for r in ran:
        assert r["status"] == "ok" and r["samples_per_s"] > 0 and r["peak_mb"] > 0, r
    assert "samples/s" in done.stdout and "peak MB" in done.stdout


def test_mf_speed_compares_the_shipped_bank_with_its_exact_filters(tmp_path, capsys):
    """The exact bank holds the same filters as the low-rank one (on its own grid)."""
    import json

    import numpy as np

    mf_speed = _load("mf_speed")
    out = tmp_path / "speed.json"
    assert mf_speed.main(["--rows", "4", "--exact-rows", "2", "--threads", "1",
                          "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert result["templates"] > result["rank"] > 0
    assert [r["threads"] for r in result["results"]] == [1]
    bank = mf_speed.FilterBank.load(result["bank"])
    exact = mf_speed.exact_bank(bank)
    assert exact.rank == len(bank)
    np.testing.assert_allclose(exact.basis[:, :bank.basis.shape[1]], bank.filters, atol=1e-6)
    assert "speed-up" in capsys.readouterr().out
