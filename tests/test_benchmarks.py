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
