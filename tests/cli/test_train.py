"""`edgeclass train`: the run folder it leaves, and one-line errors (exit 2) that leave nothing broken."""

from __future__ import annotations

import argparse
import csv
import json
import shutil

import pytest
import torch
from click.testing import CliRunner

from edgeclass.cli import cli
from edgeclass.spec import ModelCard, sha256_file
from edgeclass.train.checkpoint import load_model
from edgeclass.train.config import RECIPES, resolve_config
from edgeclass.train.models import build_network
from train_helpers import folder_digest, subset_manifest


def invoke(*args):
    return CliRunner().invoke(cli, ["train", *[str(a) for a in args]])


def assert_one_line_error(res, *words):
    assert res.exit_code == 2, res.output
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    for w in words:
        assert w in lines[0], lines[0]


def test_run_folder_has_every_artifact_and_the_demo_recipe_reaches_95_percent(trained_run, digits_root):
    run = trained_run
    for name in ("weights/best.pt", "weights/last.pt", "config.json", "splits.csv", "model_card.json", "results.csv",
                 "metrics.json", "loss.png", "accuracy.png", "confusion_matrix.png"):
        assert (run / name).is_file(), name
    config = json.loads((run / "config.json").read_text())
    assert config["data"] == str(digits_root.resolve()) and config["manifest"] == str((digits_root / "splits.csv").resolve())
    assert (config["recipe"], config["arch"], config["imgsz"]) == ("demo", "simplecnn", 32)
    card = ModelCard.load(run / "model_card.json")
    # the card records the manifest, and splits.csv is a byte copy of it
    assert card.provenance["manifest_sha256"] == sha256_file(digits_root / "splits.csv") == sha256_file(run / "splits.csv")
    rows = list(csv.DictReader(open(run / "results.csv")))
    assert [int(r["epoch"]) for r in rows] == list(range(1, config["epochs"] + 1))
    assert {"train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds"} <= set(rows[0])
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test_top1"] >= 0.95  # `make demo` target (8 of the recipe's 12 epochs here)
    assert set(metrics["test"]["per_class"]["seven"]) == {"precision", "recall", "f1", "support"}
    model, loaded_card = load_model(run / "weights" / "best.pt")  # weights_only loading
    assert loaded_card.classes == card.classes and loaded_card.provenance == card.provenance


def test_run_names_increment_unless_exist_ok(digits_root, tmp_path):
    manifest = subset_manifest(digits_root, tmp_path / "m.csv", per_class=(3, 1, 1), classes=2)
    args = (digits_root, "--manifest", manifest, "--recipe", "demo", "--epochs", "1", "--project", tmp_path / "runs", "--name", "x")
    for _ in range(2):
        assert invoke(*args).exit_code == 0
    assert invoke(*args, "--exist-ok").exit_code == 0
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["x", "x-2"]


def test_recipes_are_presets_that_options_override():
    cfg = resolve_config("seed-resnet101", lr=3e-4)
    assert (cfg.optimizer, cfg.lr, cfg.scheduler, cfg.step_size, cfg.batch, cfg.val_batch, cfg.epochs, cfg.unfreeze_from) == (
        "adam", 3e-4, "step", 5, 180, 100, 100, "layer4.0.conv1")
    assert resolve_config("seed-resnet152").unfreeze_from is None and resolve_config("seed-resnet152").epochs == 10
    d = resolve_config("default")
    assert (d.optimizer, d.scheduler, d.augment) == ("adamw", "cosine", "standard") and d.label_smoothing > 0
    assert set(RECIPES) == {"default", "seed-resnet101", "seed-resnet152", "face", "demo"}
    face = resolve_config("face", arch="mobilenet_v3_large")
    assert (face.imgsz, face.crop_ratio, face.augment, face.head, face.unfreeze_from) == (112, 1.0, "face", "linear", "-1")
    assert resolve_config("face", unfreeze_schedule="0:head,1:-1").unfreeze_from is None  # a schedule replaces the freezing


@pytest.mark.parametrize(
    "args, words",
    [
        (["--arch", "resnet9"], ["unknown arch", "resnet18"]),
        (["--recipe", "fast"], ["Invalid value for '--recipe'", "seed-resnet101"]),
        (["--arch", "resnet18", "--unfreeze-from", "layer9"], ["layer9"]),
        (["--arch", "resnet18", "--unfreeze-schedule", "fc:0"], ["--unfreeze-schedule"]),
    ],
)
def test_bad_options_are_one_line_errors_and_create_no_run(digits_root, tmp_path, args, words):
    res = invoke(digits_root, "--weights", "none", "--project", tmp_path / "runs", *args)
    assert_one_line_error(res, *words)
    assert not (tmp_path / "runs").exists()


def test_imagenet_weights_that_cannot_be_downloaded_name_the_file_url_and_place(digits_root, tmp_path, monkeypatch):
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on: the download is refused at once
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))  # an empty hub cache
    monkeypatch.setenv("EDGECLASS_WEIGHTS_MIRROR", f"http://127.0.0.1:{port}/models")
    res = invoke(digits_root, "--arch", "resnet18", "--project", tmp_path / "runs")
    where = tmp_path / "torch-home" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    assert_one_line_error(res, "resnet18-f37072fd.pth", f"http://127.0.0.1:{port}/models/resnet18-f37072fd.pth", str(where))
    assert not (tmp_path / "runs").exists() and not any((tmp_path / "torch-home").rglob("*.pth*"))


def test_weights_of_another_architecture_are_refused(digits_root, tmp_path):
    torch.save(build_network("simplecnn", 10, 32).state_dict(), tmp_path / "cnn.pth")
    res = invoke(digits_root, "--arch", "resnet18", "--weights", tmp_path / "cnn.pth", "--project", tmp_path / "runs")
    assert_one_line_error(res, "do not fit resnet18", "they are simplecnn weights with a 10-class head")
    assert not (tmp_path / "runs").exists()


def test_bad_resume_files_fail_in_one_line_and_leave_the_run_folder_untouched(trained_run, digits_root, tmp_path):
    run = tmp_path / "runs" / "demo"
    shutil.copytree(trained_run, run)
    before = folder_digest(run)
    last = run / "weights" / "last.pt"

    not_ours = tmp_path / "plain.pt"
    torch.save({"weight": torch.zeros(3)}, not_ours)
    assert_one_line_error(invoke("--resume", not_ours), "not an edgeclass checkpoint")

    unsafe = tmp_path / "unsafe.pt"
    torch.save({"format": "edgeclass.checkpoint.v1", "args": argparse.Namespace(lr=1)}, unsafe)
    assert_one_line_error(invoke("--resume", unsafe), "unsafe unpickling")

    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint at all")
    assert_one_line_error(invoke("--resume", garbage), "garbage.pt")

    assert_one_line_error(invoke("--resume", run / "weights" / "best.pt"), "last.pt")  # no optimizer state
    assert_one_line_error(invoke("--resume", last, "--arch", "resnet18"), "--arch cannot change")
    assert_one_line_error(invoke("--resume", last, "--lr", "0.1"), "--lr cannot change")
    assert_one_line_error(invoke("--resume", last), "already finished")

    # a checkpoint of another architecture / class count put into this run's folder
    other = tmp_path / "other"
    manifest = subset_manifest(digits_root, tmp_path / "m3.csv", per_class=(3, 1, 1), classes=3)
    assert invoke(digits_root, "--manifest", manifest, "--recipe", "demo", "--epochs", "2", "--stop-after", "1",
                  "--project", other, "--name", "o").exit_code == 0
    foreign = run / "weights" / "foreign.pt"
    shutil.copy(other / "o" / "weights" / "last.pt", foreign)
    assert_one_line_error(invoke("--resume", foreign), "does not belong to the run")
    foreign.unlink()

    assert folder_digest(run) == before


def test_folders_without_manifest_are_split_now_and_the_split_is_saved_in_the_run(digits_root, tmp_path):
    root = tmp_path / "two"
    for c in ("one", "seven"):
        (root / c).mkdir(parents=True)
        for p in sorted((digits_root / c).iterdir())[:20]:
            shutil.copy(p, root / c / p.name)
    res = invoke(root, "--recipe", "demo", "--epochs", "1", "--project", tmp_path / "runs", "--name", "fly")
    assert res.exit_code == 0, res.output
    run = tmp_path / "runs" / "fly"
    config = json.loads((run / "config.json").read_text())
    assert config["manifest"] == str((run / "splits.csv").resolve()) and not (root / "splits.csv").exists()
    assert ModelCard.load(run / "model_card.json").provenance["manifest_sha256"] == sha256_file(run / "splits.csv")


def test_patience_stops_when_val_top1_stops_improving_and_still_tests_best(digits_root, tmp_path):
    manifest = subset_manifest(digits_root, tmp_path / "m.csv", per_class=(3, 1, 1), classes=3)
    # lr 1e-30: Adam's steps vanish below float32 resolution, so after epoch 1 nothing improves
    res = invoke(digits_root, "--manifest", manifest, "--recipe", "demo", "--epochs", "10", "--lr", "1e-30",
                 "--scheduler", "constant", "--patience", "2", "--project", tmp_path / "runs", "--name", "p")
    assert res.exit_code == 0, res.output
    assert "early stop: no better val top-1 for 2 epochs" in res.output
    run = tmp_path / "runs" / "p"
    assert [int(r["epoch"]) for r in csv.DictReader(open(run / "results.csv"))] == [1, 2, 3]
    assert json.loads((run / "metrics.json").read_text())["best_epoch"] == 1
    assert res.output.strip().splitlines()[-1].startswith("test top-1")
