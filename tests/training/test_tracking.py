"""Experiment tracking: TensorBoard event files and W&B offline runs read back, resume, errors."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from gwkit.training.config import ConfigError, resolve_config
from gwkit.training.loop import plot_curves
from gwkit.training.tracking import TRACK_EXTRA, epoch_scalars, open_tracker, require_loggers


def fake_fold(tracker, *, first_epoch: int, epochs: int, steps: int = 20, offset: float = 0.0
              ) -> list[dict]:
    """What :func:`gwkit.training.loop.train_fold` logs: training scalars every 10 steps and
    each epoch's metrics row (with a column no logger knows of, ``val_pauc``)."""
    history = []
    for epoch in range(first_epoch, epochs + 1):
        for step in range((epoch - 1) * steps + 10, epoch * steps + 1, 10):
            tracker.log(step, {"train/loss": 1.0 / step + offset, "train/lr": 1e-3,
                               "train/samples_per_s": 100.0 + step})
        row = {"epoch": epoch, "step": epoch * steps, "lr": 1e-3, "train_loss": 0.7 / epoch,
               "val_loss": 0.6 / epoch, "val_acc": 0.5, "val_auc": 0.5 + 0.1 * epoch + offset,
               "auc_snr10": 0.6 + 0.1 * epoch, "val_pauc": 0.01 * epoch, "samples_per_s": 99.0,
               "epoch_s": 2.0}
        tracker.log(row["step"], epoch_scalars(row))
        history.append(row)
    return history


def scalars(log_dir: Path) -> dict[str, dict[int, float]]:
    """Every scalar of a TensorBoard log folder, as TensorBoard shows it (purged steps dropped)."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir))
    acc.Reload()
    return {tag: {e.step: e.value for e in acc.Scalars(tag)} for tag in acc.Tags()["scalars"]}


def images(log_dir: Path) -> dict[str, list[int]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(log_dir), size_guidance={"images": 0})
    acc.Reload()
    return {tag: [e.step for e in acc.Images(tag)] for tag in acc.Tags()["images"]}


def test_epoch_scalars_keep_every_numeric_column():
    row = {"epoch": 2, "step": 40, "val_auc": 0.8, "auc_snr4": 0.55, "val_pauc": 0.1,
           "note": "text", "stopped": True}
    assert epoch_scalars(row) == {"epoch/epoch": 2.0, "epoch/val_auc": 0.8,
                                  "auc_snr/auc_snr4": 0.55, "epoch/val_pauc": 0.1}


def test_tensorboard_holds_the_logged_values_and_a_resume_appends(tmp_path):
    fold = tmp_path / "runs" / "demo" / "fold0"
    tracker = open_tracker(["csv", "tensorboard"], fold, name="demo-fold0", group="demo",
                           job_type="train", config={"lr": 1e-3})
    history = fake_fold(tracker, first_epoch=1, epochs=1)
    tracker.log(30, {"train/loss": 99.0})  # then killed: step 30 is after the checkpoint (20)
    logged = scalars(fold / "tensorboard")
    assert logged["train/loss"] == {10: pytest.approx(0.1), 20: pytest.approx(0.05), 30: 99.0}
    assert logged["epoch/val_auc"] == {20: pytest.approx(0.6)}
    assert logged["epoch/val_pauc"] == {20: pytest.approx(0.01)}  # any new metric column
    assert logged["auc_snr/auc_snr10"] == {20: pytest.approx(0.7)}
    assert "epoch/step" not in logged

    # resumed from the checkpoint of step 20: step 30 of the killed attempt is dropped
    tracker = open_tracker(["csv", "tensorboard"], fold, name="demo-fold0", group="demo",
                           job_type="train", config={"lr": 1e-3}, purge_step=21, resume=True)
    history += fake_fold(tracker, first_epoch=2, epochs=2, offset=1.0)
    tracker.log_figure("curves", plot_curves(history, "demo fold 0"), 40)
    tracker.close()
    logged = scalars(fold / "tensorboard")
    assert logged["train/loss"] == pytest.approx({10: 0.1, 20: 0.05, 30: 1 + 1 / 30, 40: 1.025})
    assert logged["epoch/val_auc"] == pytest.approx({20: 0.6, 40: 1.7})
    assert logged["train/samples_per_s"] == pytest.approx({s: 100.0 + s for s in (10, 20, 30, 40)})
    assert images(fold / "tensorboard") == {"curves": [40]}


def wandb_records(run_dir: Path) -> list:
    """The records of an offline W&B run's ``run-<id>.wandb`` file: a LevelDB-format log
    (a 7-byte file header, 32 KiB blocks, each record chunk behind a 7-byte header:
    CRC, length, type 1 full / 2 first / 3 middle / 4 last) of protobuf ``Record``s."""
    from wandb.proto.wandb_internal_pb2 import Record

    (path,) = run_dir.glob("run-*.wandb")
    data = path.read_bytes()
    assert data[:4] == b":W&B"
    records, chunk, pos = [], b"", 7
    while pos + 7 <= len(data):
        left = 32768 - pos % 32768
        if left < 7:  # a block's zero-padded tail
            pos += left
            continue
        length, kind = int.from_bytes(data[pos + 4:pos + 6], "little"), data[pos + 6]
        chunk += data[pos + 7:pos + 7 + length]
        pos += 7 + length
        if kind in (1, 4):
            records.append(Record.FromString(chunk))
            chunk = b""
    return records


def wandb_history(run_dir: Path) -> dict[str, dict[int, object]]:
    """``{key: {step: value}}`` of an offline run's logged rows (nested keys joined by /)."""
    out: dict[str, dict[int, object]] = {}
    for record in wandb_records(run_dir):
        if record.WhichOneof("record_type") == "history":
            for item in record.history.item:
                key = item.key or "/".join(item.nested_key)
                out.setdefault(key, {})[record.history.step.num] = json.loads(item.value_json)
    return out


def test_wandb_offline_run_holds_the_values_config_and_names(tmp_path, monkeypatch):
    import wandb
    for var, sub in (("WANDB_DIR", "elsewhere"), ("WANDB_CACHE_DIR", "cache"),
                     ("WANDB_CONFIG_DIR", "config"), ("WANDB_DATA_DIR", "data")):
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.delenv("WANDB_PROJECT", raising=False)
    fold = tmp_path / "runs" / "demo" / "fold0"
    cfg = resolve_config("demo", ["logger=[csv, wandb]"])
    config = {**cfg.to_dict(), "fold": 0}

    def fold_run(**kwargs):
        return open_tracker(cfg.logger, fold, name="demo-fold0", group="demo", job_type="train",
                            config=config, **kwargs)

    tracker = fold_run()
    history = fake_fold(tracker, first_epoch=1, epochs=2)
    tracker.log_figure("curves", plot_curves(history), 40)
    tracker.close()
    run_id = (fold / "wandb" / "gwkit_run_id.txt").read_text().strip()
    tracker = fold_run(purge_step=41, resume=True)  # a resumed fold continues the W&B run
    tracker.log(50, {"train/loss": 0.02})
    tracker.close()
    fold_run().close()  # a fold started afresh is a new W&B run
    wandb.teardown()  # waits for wandb-core to write the runs' files (finish may return first)

    run_dirs = sorted((fold / "wandb").glob("offline-run-*"))  # in the fold, not in WANDB_DIR
    ids = [d.name.rsplit("-", 1)[1] for d in run_dirs]
    assert ids.count(run_id) == 2 and len(set(ids)) == 2
    first, resumed = sorted((d for d in run_dirs if d.name.endswith(run_id)),
                            key=lambda d: min(wandb_history(d)["_step"]))
    logged = wandb_history(first)
    assert logged["train/loss"] == pytest.approx({10: 0.1, 20: 0.05, 30: 1 / 30, 40: 0.025})
    assert logged["epoch/val_auc"] == pytest.approx({20: 0.6, 40: 0.7})
    assert logged["epoch/val_pauc"] == pytest.approx({20: 0.01, 40: 0.02})
    assert logged["curves/_type"] == {40: "image-file"}  # an image (nested keys joined by /)
    assert wandb_history(resumed)["train/loss"] == {50: 0.02}
    (run,) = [r.run for r in wandb_records(first) if r.WhichOneof("record_type") == "run"]
    assert (run.project, run.display_name, run.run_group, run.job_type, run.run_id) == (
        "gwkit", "demo-fold0", "demo", "train", run_id)
    settings = {item.key: json.loads(item.value_json) for item in run.config.update}
    assert settings["logger"] == ["csv", "wandb"] and settings["model"] == cfg.model
    assert settings["lr"] == cfg.lr and settings["fold"] == 0


def test_unknown_logger_names_are_listed():
    with pytest.raises(ConfigError, match=r"unknown logger\(s\) 'tb', 'mlflow'; choose from csv, "
                                          r"tensorboard, wandb"):
        resolve_config("demo", ["logger=[tb, csv, mlflow]"])
    with pytest.raises(ConfigError, match="choose at least one"):
        resolve_config("demo", ["logger=[]"])
    assert resolve_config("demo", ["logger=tensorboard"]).logger == ["tensorboard"]
    assert resolve_config("demo").logger == ["csv"]


@pytest.mark.parametrize(("logger", "module"), [("wandb", "wandb"),
                                                 ("tensorboard", "torch.utils.tensorboard")])
def test_a_missing_package_is_one_line_naming_the_extra_before_any_work(
        tmp_path, monkeypatch, logger, module):
    from gwkit.train import main as train_main

    monkeypatch.setitem(sys.modules, module, None)  # import fails as if not installed
    require_loggers(["csv"])  # csv needs nothing
    with pytest.raises(ConfigError, match=rf"logger={logger}: cannot import {module} .*"
                                          rf"{re.escape(TRACK_EXTRA)}"):
        require_loggers(["csv", logger])
    with pytest.raises(SystemExit) as err:
        train_main(["--out", str(tmp_path / "runs"), "--set", f"logger=[csv, {logger}]",
                    "--set", f"cache_dir={tmp_path / 'cache'}"])
    assert str(err.value).startswith("error: logger=") and TRACK_EXTRA in str(err.value)
    assert "\n" not in str(err.value)
    assert not list(tmp_path.iterdir()), list(tmp_path.rglob("*"))


def test_training_logs_to_tensorboard_and_a_resume_appends(tmp_path, small_bank):
    """The real loop (engine, validation, checkpoints): one epoch, then resumed for a second."""
    from gwkit.train import main as train_main

    preset = tmp_path / "tiny.yaml"
    preset.write_text(yaml.safe_dump(dict(
        name="tiny", model="resnet1d_tiny", bank=str(small_bank.path), n_folds=4, val_per_snr=2,
        snr="uniform:10:30", epochs=1, steps_per_epoch=10, batch_size=4, warmup_steps=0,
        device="cpu", out_dir=str(tmp_path / "runs"), num_threads=1, logger=["csv", "tensorboard"],
        model_kwargs=dict(layers=[1, 1], channels=[8, 16], stem_width=8, stem_stride=2,
                          frontend=dict(decimate=8)))))
    train_main(["--preset", str(preset), "--fold", "0"])
    train_main(["--preset", str(preset), "--fold", "0", "--resume", "--epochs", "2"])
    fold = tmp_path / "runs" / "tiny" / "fold0"
    metrics = pd.read_csv(fold / "metrics.csv")  # csv: today's files, unchanged
    assert metrics["step"].tolist() == [10, 20] and (fold / "curves.png").is_file()
    logged = scalars(fold / "tensorboard")
    assert set(logged["train/loss"]) == {10, 20} and set(logged["train/lr"]) == {10, 20}
    for column in ("val_auc", "val_loss", "train_loss", "samples_per_s"):
        assert logged[f"epoch/{column}"] == pytest.approx(dict(zip(metrics["step"],
                                                                   metrics[column])))
    assert logged["auc_snr/auc_snr30"] == pytest.approx(dict(zip(metrics["step"],
                                                                 metrics["auc_snr30"])))
    assert images(fold / "tensorboard") == {"curves": [10, 20]}  # each session's end
