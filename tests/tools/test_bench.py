"""`edgeclass bench`: one row per artifact, failed rows keep their reason, accuracy is reproducible."""

from __future__ import annotations

import csv
import importlib.util
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeclass.cli import cli
from edgeclass.data.load import load_dataset
from edgeclass.tools.bench import BenchConfig, bench

FAST = ["--warmup", "1", "--iters", "5", "--seconds", "0.2", "--batch", "8"]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def read_rows(path: Path):
    with open(path, newline="") as f:
        return {r["file"]: r for r in csv.DictReader(f)}


@pytest.fixture
def run_copy(exported_run, tmp_path) -> Path:
    dst = tmp_path / "runs" / "demo"
    shutil.copytree(exported_run, dst)
    return dst


def test_a_truncated_onnx_is_a_failed_row_and_the_other_rows_fill(run_copy):
    onnx = run_copy / "weights" / "model.onnx"
    onnx.write_bytes(onnx.read_bytes()[:2000])
    res = invoke("bench", run_copy, "--no-build", "--formats", "pytorch,torchscript,onnx,onnx-fp16,engine-fp16", *FAST)
    assert res.exit_code == 0, res.output
    rows = read_rows(run_copy / "bench.csv")
    assert rows["model.onnx"]["status"] == "eval failed"
    assert "model.onnx" in rows["model.onnx"]["reason"] and rows["model.onnx"]["top1"] == ""
    for name in ("best.pt", "model.ts", "model.fp16.onnx"):
        row = rows[name]
        assert row["status"] == "ok", row
        assert float(row["top1"]) >= 0.9
        assert 0 < float(row["latency_p50_ms"]) <= float(row["latency_p95_ms"])
        assert float(row["throughput_img_s"]) > 0 and row["batch"] == "8"
        assert float(row["size_mb"]) > 0
    assert rows["best.pt"]["delta_top1_pp"] == "+0.00"
    assert rows["model.ts"]["delta_top1_pp"] == "+0.00"  # same graph, same fp32 numbers
    if importlib.util.find_spec("tensorrt") is None:
        assert rows["model.fp16.engine"]["status"] == "skipped"
        assert "TensorRT not installed" in rows["model.fp16.engine"]["reason"]
    md = (run_copy / "bench.md").read_text()
    assert "eval failed" in md and "onnxruntime " in md and "torch " in md and "TensorRT " in md and "CPU: " in md
    assert md in res.output  # the same table is printed
    assert (run_copy / "bench.png").stat().st_size > 1000


def test_a_rerun_gives_exactly_the_same_accuracy(exported_run):
    cfg = BenchConfig(formats="pytorch,onnx,onnx-fp16", build=False, warmup=0, iters=3, seconds=0.1, batch=4)
    first, second = bench(exported_run, config=cfg), bench(exported_run, config=cfg)
    assert [r.top1 for r in first.rows] == [r.top1 for r in second.rows]
    assert all(r.top1 is not None for r in first.rows)
    assert first.num_images == len(load_dataset(first.dataset).split("test"))


def test_missing_artifacts_are_built_unless_no_build(trained_run, tmp_path):
    run = tmp_path / "runs" / "fresh"
    shutil.copytree(trained_run, run)
    res = invoke("bench", run, "--no-build", "--formats", "onnx", *FAST)
    assert res.exit_code == 0, res.output
    assert read_rows(run / "bench.csv")["model.onnx"]["status"] == "missing"
    assert not (run / "weights" / "model.onnx").exists()
    res = invoke("bench", run, "--formats", "pytorch,onnx", *FAST)
    assert res.exit_code == 0, res.output
    rows = read_rows(run / "bench.csv")
    assert rows["model.onnx"]["status"] == "ok" and (run / "weights" / "model.onnx").is_file()
    assert rows["model.onnx"]["top1"] == rows["best.pt"]["top1"]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--formats", "onnx,tflite"], "tflite"),
        (["--batch", "0"], "--batch"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(exported_run, args, message):
    res = invoke("bench", exported_run, *args)
    assert res.exit_code == 2 and res.output.startswith("error:") and message in res.output
    assert res.output.strip().count("\n") == 0


def test_a_folder_that_is_not_a_run_is_refused(tmp_path):
    res = invoke("bench", tmp_path / "nope")
    assert res.exit_code == 2 and "does not exist" in res.output
    res = invoke("bench", tmp_path)
    assert res.exit_code == 2 and "weights" in res.output


def test_a_dataset_with_classes_the_model_does_not_know_is_one_line(exported_run, digits_root, tmp_path):
    data = tmp_path / "other"
    shutil.copytree(digits_root, data)
    (data / "seven").rename(data / "siete")
    (data / "splits.csv").write_text((data / "splits.csv").read_text().replace("seven", "siete"))
    res = invoke("bench", exported_run, "--data", data, "--no-build", *FAST)
    assert res.exit_code == 2 and res.output.startswith("error:") and "siete" in res.output
    assert res.output.strip().count("\n") == 0


def test_a_failed_build_is_a_row_with_its_reason(trained_run, tmp_path):
    run = tmp_path / "runs" / "broken"
    shutil.copytree(trained_run, run)
    ckpt = run / "weights" / "best.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])  # a truncated checkpoint: nothing can be exported from it
    res = invoke("bench", run, "--formats", "pytorch,onnx,onnx-int8", *FAST)
    assert res.exit_code == 0, res.output
    rows = read_rows(run / "bench.csv")
    assert rows["best.pt"]["status"] == "eval failed" and "best.pt" in rows["best.pt"]["reason"]
    assert rows["model.onnx"]["status"] == "build failed" and "checkpoint" in rows["model.onnx"]["reason"]
    assert rows["model.int8.onnx"]["status"] == "build failed" and "model.onnx" in rows["model.int8.onnx"]["reason"]
