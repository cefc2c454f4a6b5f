"""Two real processes under torchrun (gloo on CPU): they train together and only rank 0 writes files."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from edgeclass.train.checkpoint import load_checkpoint
from edgeclass.train.run_dir import read_results
from train_helpers import subset_manifest


def test_torchrun_two_processes_gloo_trains_and_only_rank0_writes(digits_root, tmp_path):
    manifest = subset_manifest(digits_root, tmp_path / "m.csv", per_class=(8, 2, 2))
    project = tmp_path / "runs"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [
        sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
        "-m", "edgeclass", "train", str(digits_root), "--manifest", str(manifest), "--recipe", "demo",
        "--epochs", "2", "--batch", "16", "--project", str(project), "--name", "ddp", "--device", "cpu",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    out = proc.stdout
    assert out.count("x2 processes") == 1  # rank 1 logs nothing
    assert out.count("test top-1") == 1

    # one run folder (rank 1 neither created ddp-2 nor wrote anywhere else), one row per epoch
    assert sorted(p.name for p in project.iterdir()) == ["ddp"]
    run = project / "ddp"
    assert not [p for p in run.rglob("*") if ".tmp" in p.name]
    rows = read_results(run / "results.csv")
    assert [r["epoch"] for r in rows] == [1, 2]
    ckpt = load_checkpoint(run / "weights" / "last.pt")
    assert ckpt["epoch"] == 2
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["test"]["num_samples"] == 20  # gathered from both ranks, no padding duplicates
    assert "train loss" in out and Path(run / "confusion_matrix.png").is_file()
