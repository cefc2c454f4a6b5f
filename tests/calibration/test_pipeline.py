"""`edgeclass calibrate`: TRAIN-only stratified calibration, TensorRT-ready Q/DQ, U8S8 for the CPU,
an accuracy report on TEST within --max-drop, and the sensitivity fallback."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgeclass.cli import cli


def initializers(model):
    from onnx import numpy_helper

    return {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}


def test_calibration_images_are_stratified_train_images(digits_root, trained_run):
    from edgeclass.data.image_sets import calibration_images, stratified_sample
    from edgeclass.data.load import load_dataset
    from edgeclass.spec import ModelCard

    ds = load_dataset(digits_root)
    card = ModelCard.load(trained_run / "model_card.json")
    picked = stratified_sample(ds.split("train"), 55, seed=3)
    assert {s.split for s in picked} == {"train"}
    counts = Counter(s.label for s in picked)
    assert len(counts) == 10 and max(counts.values()) - min(counts.values()) <= 1
    assert picked == stratified_sample(ds.split("train"), 55, seed=3)  # deterministic
    images = calibration_images(ds, card, num=40, seed=0)
    assert images.shape == (40, 3, 32, 32) and images.dtype == np.float32
    assert 0.0 <= images.min() and images.max() <= 1.0


def test_tensorrt_model_is_symmetric_qdq_with_per_channel_weights(calibrated_run):
    import onnx

    onnx.checker.check_model(str(calibrated_run / "weights" / "model.int8.onnx"), full_check=True)
    model = onnx.load(str(calibrated_run / "weights" / "model.int8.onnx"))
    inits = initializers(model)
    qdq = [n for n in model.graph.node if n.op_type in ("QuantizeLinear", "DequantizeLinear")]
    assert qdq
    for node in qdq:
        assert len(node.input) == 3, f"{node.name} has no explicit zero point"
        zp = inits[node.input[2]]
        assert zp.dtype == np.int8 and not zp.any(), f"{node.name}: zero point {zp}"
    producers = {o: n for n in model.graph.node for o in n.output}
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    assert convs
    for conv in convs:
        dq = producers[conv.input[1]]
        assert dq.op_type == "DequantizeLinear"
        weight, scale = inits[dq.input[0]], inits[dq.input[1]]
        assert weight.dtype == np.int8 and scale.shape == (weight.shape[0],)  # one scale per output channel
        assert len(conv.input) < 3 or conv.input[2] in inits  # bias stays float for TensorRT
    card = json.loads(next(p.value for p in model.metadata_props if p.key == "edgeclass.model_card"))
    assert card["precision"] == "int8" and card["provenance"]["quantization"]["calibration_split"] == "train"
    stored = json.loads((calibrated_run / "model_card.json").read_text())
    assert card["classes"] == stored["classes"] and card["preprocess"] == stored["preprocess"]


def test_cpu_model_uses_unsigned_activations(calibrated_run):
    import onnx

    onnx.checker.check_model(str(calibrated_run / "weights" / "model.int8-cpu.onnx"), full_check=True)
    model = onnx.load(str(calibrated_run / "weights" / "model.int8-cpu.onnx"))
    inits = initializers(model)
    act_types = {inits[n.input[2]].dtype for n in model.graph.node if n.op_type == "QuantizeLinear"}
    assert act_types == {np.dtype(np.uint8)}
    weight_types = {inits[n.input[0]].dtype for n in model.graph.node if n.op_type == "DequantizeLinear" and n.input[0] in inits}
    assert np.dtype(np.int8) in weight_types


def test_int8_accuracy_report_is_within_budget(calibrated_run):
    report = json.loads((calibrated_run / "weights" / "calibration.json").read_text())
    assert report["passed"] and report["fp32_top1"] >= 0.9 and report["calibration_images"] == 200
    assert report["measured_with"].startswith("ONNX Runtime's CPU emulation")  # the gate is not a TensorRT engine
    by_name = {m["name"]: m for m in report["models"]}
    from edgeclass.calibration.modelopt_ptq import modelopt_version

    assert set(by_name) == {"int8", "int8-cpu"} | ({"int8-fp16"} if modelopt_version() else set())
    for m in by_name.values():
        assert m["drop_points"] <= 1.0
        assert m["agreement"] >= 0.97
        assert len(m["per_class_delta"]) == 10 and m["float_layers"] == []


@pytest.mark.parametrize("name", ["model.int8.onnx", "model.int8-cpu.onnx"])
def test_int8_models_run_with_only_onnxruntime(calibrated_run, digits_root, name, tmp_path):
    """The INT8 files work in a Python that has onnxruntime and numpy but neither edgeclass nor torch."""
    from edgeclass.data.image_sets import split_images
    from edgeclass.data.load import load_dataset
    from edgeclass.spec import ModelCard

    card = ModelCard.load(calibrated_run / "model_card.json")
    x, y = split_images(load_dataset(digits_root), card, "test")
    np.savez(tmp_path / "t.npz", x=x, y=y)
    code = (
        "import sys, importlib.abc, json\n"
        "class B(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, n, p=None, t=None):\n"
        "        if n.split('.')[0] in ('edgeclass', 'torch'): raise ImportError(n)\n"
        "sys.meta_path.insert(0, B())\n"
        "import numpy as np, onnxruntime as ort\n"
        "d = np.load(sys.argv[1]); s = ort.InferenceSession(sys.argv[2], providers=['CPUExecutionProvider'])\n"
        "print(float((s.run(None, {'images': d['x']})[0].argmax(1) == d['y']).mean()))\n"
    )
    proc = subprocess.run([sys.executable, "-I", "-c", code, str(tmp_path / "t.npz"), str(calibrated_run / "weights" / name)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    report = json.loads((calibrated_run / "weights" / "calibration.json").read_text())
    expected = {m["path"].rsplit("/", 1)[-1]: m["top1"] for m in report["models"]}[name]
    assert float(proc.stdout.strip()) == pytest.approx(expected, abs=1e-9)


def test_fallback_keeps_sensitive_layers_float_and_fails_an_impossible_budget(tmp_path, exported_run):
    """A negative budget can never be met (even an all-float model loses 0 points), so the fallback
    must engage, rank layers, keep every one of them in float, report them and exit non-zero."""
    run = tmp_path / "run"
    shutil.copytree(exported_run, run)
    result = CliRunner().invoke(cli, ["calibrate", str(run), "--num", "60", "--batch", "20", "--max-drop", "-1"])
    assert result.exit_code == 1, result.output
    assert "kept 3 layer(s) in float" in result.output and "exceeds --max-drop -1" in result.output
    report = json.loads((run / "weights" / "calibration.json").read_text())
    assert report["passed"] is False
    for m in report["models"]:
        assert m["initial_drop_points"] is not None
        assert sorted(m["float_layers"]) == sorted(name for name, _ in m["sensitivity"])
        # conv, conv, fc of the simple CNN; the TensorRT files keep the fc (a matrix-vector GEMM) float anyway
        assert len(m["float_layers"]) == (3 if m["name"] == "int8-cpu" else 2)
        scores = [s for _, s in m["sensitivity"]]
        assert scores == sorted(scores, reverse=True)
    import onnx

    cpu = onnx.load(str(run / "weights" / "model.int8-cpu.onnx"))
    producers = {o: n.op_type for n in cpu.graph.node for o in n.output}
    assert all(producers.get(n.input[1]) is None for n in cpu.graph.node if n.op_type in ("Conv", "Gemm"))  # float weights


def test_tensorrt_calibration_cache_format(tmp_path, exported_run):
    from edgeclass.artifacts.trt_cache import version_number

    assert version_number("8.5.2") == 8502 and version_number("10.3.0") == 100300
    run = tmp_path / "run"
    shutil.copytree(exported_run, run)
    result = CliRunner().invoke(cli, ["calibrate", str(run), "--num", "40", "--batch", "20", "--trt-cache", "8.6.1"])
    assert result.exit_code == 0, result.output
    assert "ok/FAIL: ONNX Runtime's CPU emulation of each INT8 file, not a TensorRT engine" in result.output
    lines = (run / "weights" / "calibration.cache").read_text().splitlines()
    assert lines[0] == "TRT-8601-MinMaxCalibration"  # names the calibrator that reads min/max ranges (defect 9)
    import struct

    for line in lines[1:]:
        name, hexval = line.rsplit(": ", 1)
        assert name and len(hexval) == 8
        assert struct.unpack(">f", bytes.fromhex(hexval))[0] > 0


def test_targets_write_only_the_int8_files_asked_for(tmp_path, exported_run):
    run = tmp_path / "run"
    shutil.copytree(exported_run, run)
    result = CliRunner().invoke(cli, ["calibrate", str(run), "--num", "20", "--batch", "10", "--targets", "int8-cpu"])
    assert result.exit_code == 0, result.output
    weights = run / "weights"
    assert (weights / "model.int8-cpu.onnx").is_file()
    assert not (weights / "model.int8.onnx").exists() and not (weights / "model.int8-fp16.onnx").exists()
    bad = CliRunner().invoke(cli, ["calibrate", str(run), "--targets", "int4"])
    assert bad.exit_code == 2 and "int4" in bad.output and "Traceback" not in bad.output


def test_trt_cache_header_follows_the_method_and_refuses_percentile(tmp_path):
    from edgeclass.artifacts import trt_cache
    from edgeclass.calibration.pipeline import CalibrationConfig
    from edgeclass.errors import EdgeclassError

    assert trt_cache.header(8601, trt_cache.algorithm_of("entropy")) == "TRT-8601-EntropyCalibration2"
    assert trt_cache.header(100300, trt_cache.algorithm_of("minmax")) == "TRT-100300-MinMaxCalibration"
    with pytest.raises(EdgeclassError, match="no such calibrator"):
        CalibrationConfig(source=tmp_path, method="percentile", trt_cache_version="8.6.1").validate()


def write_pngs(folder: Path, n: int, value: int) -> None:
    import cv2

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        cv2.imwrite(str(folder / f"{i}.png"), np.full((32, 32), (value + 7 * i) % 256, np.uint8))


@pytest.mark.parametrize("case", ["no-card", "unknown-class", "too-few", "no-data", "not-exported"])
def test_bad_calibration_inputs_are_one_line_errors(tmp_path, exported_run, trained_run, case):
    import onnx

    args = ["calibrate"]
    if case == "no-card":
        model = onnx.load(str(exported_run / "weights" / "model.onnx"))
        del model.metadata_props[:]
        onnx.save(model, str(tmp_path / "bare.onnx"))
        args += [str(tmp_path / "bare.onnx"), "--data", str(tmp_path)]
        expect = "no edgeclass model card"
    elif case == "unknown-class":
        for label, value in (("cat", 10), ("dog", 200)):
            write_pngs(tmp_path / "pets" / "train" / label, 6, value)
            write_pngs(tmp_path / "pets" / "val" / label, 2, value)
            write_pngs(tmp_path / "pets" / "test" / label, 2, value)
        args += [str(exported_run / "weights" / "model.onnx"), "--data", str(tmp_path / "pets"), "--out", str(tmp_path)]
        expect = "classes the model does not know: cat, dog"
    elif case == "too-few":
        args += [str(exported_run), "--num", "8", "--batch", "16", "--out", str(tmp_path)]
        expect = "fewer than one batch"
    elif case == "no-data":
        weights = tmp_path / "w"
        weights.mkdir()
        shutil.copy(exported_run / "weights" / "model.onnx", weights / "model.onnx")
        args += [str(weights / "model.onnx")]
        expect = "pass --data ROOT"
    else:
        args += [str(trained_run)]
        expect = "run `edgeclass export"
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert expect in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not list(tmp_path.rglob("*.int8*.onnx"))


def test_entropy_calibration_clips_the_tail_unlike_minmax(tmp_path):
    """ONNX Runtime's default entropy settings (128 bins) reproduce min/max; ours search a threshold
    that clips a heavy-tailed distribution."""
    import torch
    from onnxruntime.quantization.calibrate import load_tensors_data

    from edgeclass.calibration.quantize import calibrate
    from edgeclass.export.onnx_export import export_onnx
    from edgeclass.spec import ModelCard, Preprocess

    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU()).eval()
    card = ModelCard(classes=["a", "b"], arch="simplecnn", preprocess=Preprocess.for_size(16))
    path = export_onnx(net, card, tmp_path / "tiny.onnx", torch.rand(1, 3, 16, 16))
    images = np.random.default_rng(0).laplace(0.0, 0.05, (32, 3, 16, 16)).astype(np.float32)
    amax = {}
    for method in ("minmax", "entropy"):
        # 1024 bins instead of 2048 keeps ONNX Runtime's pure-Python KL search short in a test
        data = load_tensors_data(calibrate(path, images, 8, method, tmp_path / f"{method}.json", bins=1024)).data
        amax[method] = float(np.max(np.abs(np.concatenate([np.ravel(v) for v in data["images"].range_value]))))
    assert amax["minmax"] == pytest.approx(float(np.abs(images).max()))
    assert amax["entropy"] < 0.9 * amax["minmax"]
