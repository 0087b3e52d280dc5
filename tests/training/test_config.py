"""TrainConfig: presets, typed overrides, clear errors, YAML round trip."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from gwkit.engine import Curriculum, parse_snr
from gwkit.training.config import (
    PRESET_DIR,
    ConfigError,
    TrainConfig,
    config_diff,
    list_presets,
    load_config,
    load_preset,
    parse_override,
    resolve_config,
    save_config,
)

REPO = Path(__file__).resolve().parents[2]


def test_every_field_has_a_one_line_comment():
    source = (REPO / "gwkit" / "training" / "config.py").read_text().splitlines()
    for f in dataclasses.fields(TrainConfig):
        line = next(s for s in source if s.strip().startswith(f"{f.name}:"))
        assert "  # " in line, f.name


def test_presets_ship_with_the_package_and_match_the_repository():
    """The repository's configs/ is the package's preset folder, and the package data ships it."""
    import fnmatch

    from setuptools.config.setupcfg import read_configuration

    assert {"demo", "baseline", "resnet1d"} <= set(list_presets())
    assert (REPO / "configs").resolve() == PRESET_DIR.resolve()  # one folder, never two copies
    patterns = read_configuration(REPO / "setup.cfg")["options"]["package_data"]["gwkit"]
    presets = sorted(p.relative_to(PRESET_DIR.parent).as_posix() for p in PRESET_DIR.glob("*.yaml"))
    assert presets
    for preset in presets:
        assert any(fnmatch.fnmatch(preset, pattern) for pattern in patterns), preset


@pytest.mark.parametrize("name", ["demo", "baseline", "resnet1d", "course_cnn", "course_sav",
                                  "gwkit_cnn", "gwkit_resnet"])
def test_presets_load(name):
    cfg = load_preset(name)
    assert cfg.name == name
    parse_snr(cfg.snr)
    assert load_preset(REPO / "configs" / f"{name}.yaml") == cfg


def test_demo_is_the_default_and_models():
    assert resolve_config() == load_preset("demo")
    assert load_preset("baseline").model == "gw_cnn_baseline"
    assert load_preset("resnet1d").model.startswith("resnet1d_")
    assert isinstance(parse_snr(load_preset("demo").snr), Curriculum)


@pytest.mark.parametrize(
    ("text", "key", "value"),
    [
        ("epochs=3", "epochs", 3),
        ("lr=1e-3", "lr", 1e-3),
        ("lr=2", "lr", 2.0),
        ("amp=false", "amp", False),
        ("name=run-1", "name", "run-1"),
        ("name=123", "name", "123"),
        ("mode=physical", "mode", "physical"),
        ("bank=none", "bank", None),
        ("bank=data/bank.h5", "bank", "data/bank.h5"),
        ("model_kwargs={drop_rate: 0.2, frontend: {decimate: 4}}", "model_kwargs",
         {"drop_rate": 0.2, "frontend": {"decimate": 4}}),
        ("snr=20", "snr", 20),
        ("snr=uniform:4:30", "snr", "uniform:4:30"),
        ("snr=[{until: 0.5, snr: 20}, {until: 1.0, snr: competition}]", "snr",
         [{"until": 0.5, "snr": 20}, {"until": 1.0, "snr": "competition"}]),
    ],
)
def test_overrides_are_typed_by_the_field(text, key, value):
    assert parse_override(text) == (key, value)
    assert getattr(resolve_config("demo", [text]), key) == value


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["epoch=3"], "unknown key 'epoch'; valid keys: name, out_dir, seed, model"),
        (["epochs"], "expected key=value"),
        (["epochs=3.5"], "epochs=3.5: expected an integer"),
        (["lr=fast"], "lr='fast': expected a number"),
        (["amp=maybe"], "amp='maybe': expected true or false"),
        (["optimizer=sgd"], "optimizer='sgd': expected one of adam, adamw"),
        (["model_kwargs=3"], "model_kwargs=3: expected a mapping"),
        (["model=resnet9000"], "unknown model 'resnet9000'; available: "),
        (["snr=loud"], "snr='loud': bad SNR spec"),
        (["batch_size=0"], "batch_size=0: must be >= 1"),
        (["ema=1.0"], "ema=1.0: must lie in [0, 1)"),
        (["swap_p=0.5"], "swap_p and detector_shift_p need mode=physical"),
        (["min_lr=1", "lr=0.1"], "min_lr=1.0: must not exceed lr=0.1"),
    ],
)
def test_bad_overrides_name_key_and_value(overrides, message):
    with pytest.raises(ConfigError) as err:
        resolve_config("demo", overrides)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_physical_mode_allows_detector_augmentations():
    cfg = resolve_config("demo", ["mode=physical", "swap_p=0.5", "detector_shift_p=0.5"])
    assert cfg.swap_p == 0.5


def test_unknown_preset_lists_the_available_ones(tmp_path):
    with pytest.raises(ConfigError, match="unknown preset 'nope'; available: baseline, course_cnn, course_sav, demo"):
        load_preset("nope")
    with pytest.raises(ConfigError, match="not found"):
        load_preset(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: 2\nlearning_rate: 0.1\n")
    with pytest.raises(ConfigError, match=r"bad.yaml: unknown key 'learning_rate'"):
        load_preset(bad)


def test_yaml_round_trip(tmp_path):
    cfg = resolve_config("resnet1d", ["lr=3e-4", "bank=x.h5", "epochs=2"])
    path = save_config(cfg, tmp_path / "run" / "config.yaml")
    assert load_config(path) == cfg
    assert config_diff(cfg, load_preset("resnet1d")) == {
        "bank": ("x.h5", None), "epochs": (2, 40), "lr": (3e-4, 1e-3)}


def test_config_is_frozen():
    cfg = TrainConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.lr = 1.0  # type: ignore[misc]
    assert cfg.replace(lr=0.5).lr == 0.5 and cfg.lr == 1e-3


def test_configs_written_with_legacy_frontend_names_match_the_preset():
    """The shipped weights' config.yaml says frontend {flow: 15}; it is the preset's highpass."""
    shipped = load_config(REPO / "weights" / "gwkit_resnet" / "config.yaml")
    assert shipped.model_kwargs["frontend"] == {"highpass": 15.0, "decimate": 4}
    assert "model_kwargs" not in config_diff(shipped, load_preset("gwkit_resnet"))


# --------------------------------------------------------------------------- issue 25


@pytest.mark.parametrize("overrides, message", [
    (["lr=inf"], r"^lr=inf: expected a finite number$"),
    (["weight_decay=.nan"], r"^weight_decay=nan: expected a finite number$"),
    (["grad_clip=-.inf"], r"^grad_clip=-inf: expected a finite number$"),
    (["seed=-1"], r"^seed=-1: must be a whole number in \[0, 2\*\*63\)$"),
    (["bank_seed=9223372036854775808"], r"^bank_seed=9223372036854775808: must be a whole"),
])
def test_out_of_range_numbers_are_refused(overrides, message):
    with pytest.raises(ConfigError, match=message):
        resolve_config("demo", overrides)


def test_a_preset_names_itself_in_its_errors(tmp_path):
    (tmp_path / "p.yaml").write_text("lr: .inf\n")
    with pytest.raises(ConfigError, match=rf"^{tmp_path / 'p.yaml'}: lr=inf: expected a finite"):
        load_preset(tmp_path / "p.yaml")
    (tmp_path / "p.yaml").write_text("n_folds: 1\n")
    with pytest.raises(ConfigError, match=r"p\.yaml: n_folds=1: must be >= 2"):
        load_preset(tmp_path / "p.yaml")


def test_a_config_that_is_not_utf8_is_one_line(tmp_path):
    (tmp_path / "config.yaml").write_bytes(b"name: caf\xe9\n")
    with pytest.raises(ConfigError, match=r"config\.yaml: not a UTF-8 text file \(byte 9 is "
                                          r"b'\\xe9'\); save it as UTF-8 YAML$"):
        load_config(tmp_path / "config.yaml")
    (tmp_path / "dir.yaml").mkdir()
    with pytest.raises(ConfigError, match=r"dir\.yaml"):
        load_preset(tmp_path / "dir.yaml")
