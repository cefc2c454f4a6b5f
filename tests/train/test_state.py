"""A run stopped after epoch k carries on from epoch k+1 and ends exactly where an uninterrupted run ends."""

from __future__ import annotations

import json

import torch
from click.testing import CliRunner

from edgeclass.cli import cli
from edgeclass.train.checkpoint import load_checkpoint
from edgeclass.train.config import resolve_config
from edgeclass.train.run_dir import read_results
from edgeclass.train.trainer import train
from train_helpers import subset_manifest


def _cfg(digits_root, tmp_path, name, **kw):
    manifest = tmp_path / "subset.csv"
    if not manifest.exists():
        subset_manifest(digits_root, manifest, per_class=(10, 3, 3))
    # standard augmentation draws from torch's RNG: resuming must restore it to match bit for bit
    options = dict(epochs=3, augment="standard", device="cpu")
    options.update(kw)
    return resolve_config("demo", data=str(digits_root), manifest=str(manifest), project=str(tmp_path / "runs"), name=name, **options)


def test_stopped_run_resumes_at_next_epoch_and_matches_uninterrupted_run(digits_root, tmp_path):
    straight = train(_cfg(digits_root, tmp_path, "straight"), log=lambda m: None).run_dir

    stopped = train(_cfg(digits_root, tmp_path, "stopped", stop_after=1), log=lambda m: None)
    run = stopped.run_dir
    assert stopped.test is None and not (run / "metrics.json").exists()
    assert load_checkpoint(run / "weights" / "last.pt")["epoch"] == 1
    first_rows = read_results(run / "results.csv")
    assert [r["epoch"] for r in first_rows] == [1]
    # a kill after results.csv got epoch 2's row but before last.pt was replaced
    with open(run / "results.csv", "a") as f:
        f.write("2,9,0,9,0,0.1,1,1,0\n")

    res = CliRunner().invoke(cli, ["train", "--resume", str(run / "weights" / "last.pt")])
    assert res.exit_code == 0, res.output
    assert "from epoch 2" in res.output and "epoch 1/3" not in res.output

    rows = read_results(run / "results.csv")
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert rows[0] == first_rows[0] and rows[1]["train_loss"] != 9
    a = load_checkpoint(straight / "weights" / "last.pt")
    b = load_checkpoint(run / "weights" / "last.pt")
    assert b["epoch"] == 3
    for k in a["model"]:
        assert torch.equal(a["model"][k], b["model"][k]), k
    assert (a["best_epoch"], a["best_metric"]) == (b["best_epoch"], b["best_metric"])
    straight_rows = read_results(straight / "results.csv")
    assert [r["val_acc"] for r in rows] == [r["val_acc"] for r in straight_rows]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["best_epoch"] == b["best_epoch"]


def test_resume_keeps_best_metric_and_extends_with_epochs(digits_root, tmp_path):
    run = train(_cfg(digits_root, tmp_path, "ext", epochs=2), log=lambda m: None).run_dir
    before = load_checkpoint(run / "weights" / "best.pt")
    res = CliRunner().invoke(cli, ["train", "--resume", str(run / "weights" / "last.pt")])
    assert res.exit_code == 2 and "already finished 2 of 2 epochs" in res.output
    res = CliRunner().invoke(cli, ["train", "--resume", str(run / "weights" / "last.pt"), "--epochs", "3"])
    assert res.exit_code == 0, res.output
    last = load_checkpoint(run / "weights" / "last.pt")
    assert last["epoch"] == 3 and last["best_metric"] >= before["best_metric"]
    assert [r["epoch"] for r in read_results(run / "results.csv")] == [1, 2, 3]
    assert json.loads((run / "config.json").read_text())["epochs"] == 3


def _strip_final_phase(run):
    """The run folder as a kill during the final phase leaves it: every epoch in last.pt, no
    metrics.json (written last), maybe some plots, and a temp file of a checkpoint write."""
    for name in ("metrics.json", "confusion_matrix.png", "accuracy.png"):
        (run / name).unlink()
    (run / "weights" / ".last.tmp999999.pt").write_bytes(b"half a checkpoint")
    (run / ".results.tmp999998.csv").write_text("epoch,tr")


def test_a_run_killed_in_its_final_phase_is_finished_by_resume(digits_root, tmp_path):
    run = train(_cfg(digits_root, tmp_path, "final", epochs=2), log=lambda m: None).run_dir
    want = json.loads((run / "metrics.json").read_text())
    assert want["epochs_done"] == 2
    _strip_final_phase(run)
    res = CliRunner().invoke(cli, ["train", "--resume", str(run / "weights" / "last.pt")])
    assert res.exit_code == 0, res.output
    assert "finishing" in res.output and "epoch 1/2" not in res.output and "epoch 2/2" not in res.output
    assert "removed" in res.output and ".last.tmp999999.pt" in res.output
    got = json.loads((run / "metrics.json").read_text())
    assert got == want  # the same test report, bit for bit, as the uninterrupted final phase
    for name in ("confusion_matrix.png", "accuracy.png", "loss.png"):
        assert (run / name).is_file()
    assert not list(run.glob(".*.tmp*")) and not list((run / "weights").glob(".*.tmp*"))
    res = CliRunner().invoke(cli, ["train", "--resume", str(run / "weights" / "last.pt")])
    assert res.exit_code == 2 and "already finished 2 of 2 epochs" in res.output


def test_stale_metrics_of_fewer_epochs_do_not_count_as_finished(digits_root, tmp_path):
    run = train(_cfg(digits_root, tmp_path, "stale", epochs=1), log=lambda m: None).run_dir
    old = (run / "metrics.json").read_text()
    res = CliRunner().invoke(cli, ["train", "--resume", str(run / "weights" / "last.pt"), "--epochs", "2"])
    assert res.exit_code == 0, res.output
    # a kill in the final phase of the longer run leaves the metrics.json of the first one
    (run / "metrics.json").write_text(old)
    res = CliRunner().invoke(cli, ["train", "--resume", str(run / "weights" / "last.pt")])
    assert res.exit_code == 0 and "finishing" in res.output, res.output
    assert json.loads((run / "metrics.json").read_text())["epochs_done"] == 2


def test_a_temp_file_of_a_live_writer_is_left_alone(tmp_path):
    import os

    from edgeclass.fileio import stale_temp_files

    mine = tmp_path / f".last.tmp{os.getpid()}.pt"
    dead = tmp_path / ".last.tmp999999.pt"
    for p in (mine, dead, tmp_path / "last.pt", tmp_path / ".hidden"):
        p.write_text("x")
    assert stale_temp_files(tmp_path) == [dead]
