"""Real TensorRT engines: build, run, compare with ONNX Runtime, staleness on load.

Needs the ``tensorrt`` Python package and a CUDA GPU (plus cuda-python or PyTorch with CUDA for
device memory), and PyTorch to train and export the tiny test model; skipped elsewhere with the
reason printed (`pytest -ra`). Run on hardware with `.venv/bin/python -m pytest -m tensorrt -ra`.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from edgeclass.errors import EdgeclassError
from edgeclass.engine.plan import EngineRequest

pytestmark = pytest.mark.tensorrt


@pytest.fixture(scope="module")
def tensorrt_gpu():
    pytest.importorskip("tensorrt", reason="the tensorrt Python package is not installed")
    from edgeclass.engine.cuda import open_cuda

    try:
        cuda = open_cuda(0)
        gpu = cuda.gpu()
        cuda.close()
    except Exception as e:  # no GPU, no driver, no cuda-python/torch
        pytest.skip(f"no usable CUDA GPU: {e}")
    return gpu


@pytest.fixture()
def run_copy(tensorrt_gpu, request, tmp_path):
    """A writable copy of the exported test run (checked after TensorRT and the GPU, so a machine
    without them skips before training anything)."""
    pytest.importorskip("torch", reason="the test model is trained and exported with PyTorch")
    run = tmp_path / "run"
    shutil.copytree(request.getfixturevalue("exported_run"), run)
    return run


def held_out(run, card, n=64):
    from edgeclass.tools.jetson_check import held_out_images

    return held_out_images(run, card, n)


def ort_logits(path, images):
    from edgeclass.inference import onnx_logits

    return onnx_logits(path, images)


@pytest.mark.parametrize("precision, min_agree, max_diff", [("fp32", 0.98, 0.01), ("fp16", 0.98, 0.5)])  # fp32: TF32 cleared
def test_engine_builds_runs_and_agrees_with_onnxruntime(run_copy, precision, min_agree, max_diff):
    from edgeclass.engine.build import build_engine
    from edgeclass.runtime.backends.tensorrt import TensorRTBackend

    result = build_engine(run_copy, EngineRequest(precision=precision, max_batch=8, workspace_gib=1.0))
    assert result.engine.is_file() and result.sidecar_path.is_file()
    side = json.loads(result.sidecar_path.read_text())
    assert side["precision"] == precision and side["input"]["max"] == [8, 3, 32, 32]
    assert not result.engine.read_bytes().startswith(b"{")  # a plain plan, no header of ours
    assert any(p.name.startswith("timing.trt") for p in (run_copy / "weights").iterdir())
    assert side["layers"], "the engine inspector gave no layers"
    assert (side["build"]["cleared_flags"] == ["TF32"]) == (precision == "fp32")

    with TensorRTBackend(result.engine) as backend:
        assert backend.max_batch == 8 and backend.card.num_classes == 10
        assert backend.describe().startswith(f"TensorRT {backend.version} {precision} on ")
        images, _labels = held_out(run_copy, backend.card)
        got = backend.predict(images)  # 64 images: chunks of 8
        one = backend.predict(images[:1])
    ref = ort_logits(run_copy / "weights" / "model.onnx", images)
    assert got.shape == ref.shape and got.dtype == np.float32
    assert np.mean(got.argmax(1) == ref.argmax(1)) >= min_agree
    assert np.abs(got - ref).max() <= max_diff
    np.testing.assert_allclose(one, got[:1], atol=1e-2)


def test_stale_engine_is_refused_with_the_command_or_rebuilt(run_copy):
    from edgeclass.engine.build import build_engine
    from edgeclass.runtime.backends.tensorrt import TensorRTBackend

    result = build_engine(run_copy, EngineRequest(precision="fp16", batch=1))
    side = json.loads(result.sidecar_path.read_text())
    side["tensorrt"] = "8.5.1"
    result.sidecar_path.write_text(json.dumps(side))
    with pytest.raises(EdgeclassError, match=r"built with TensorRT 8\.5\.1.*edgeclass engine .* --precision fp16 --batch 1"):
        TensorRTBackend(result.engine)
    with TensorRTBackend(result.engine, rebuild_stale=True) as backend:
        assert backend.sidecar["tensorrt"] == str(backend.version)
    assert json.loads(result.sidecar_path.read_text())["tensorrt"] != "8.5.1"


def test_corrupt_engine_gets_the_same_treatment(run_copy):
    from edgeclass.engine.build import build_engine
    from edgeclass.runtime.backends.tensorrt import TensorRTBackend

    result = build_engine(run_copy, EngineRequest(precision="fp16", batch=1))
    result.engine.write_bytes(b"not a plan" * 100)
    with pytest.raises(EdgeclassError, match="could not deserialise"):
        TensorRTBackend(result.engine)


def test_engine_cli_prints_the_paths(run_copy):
    from click.testing import CliRunner

    from edgeclass.cli import cli

    r = CliRunner().invoke(cli, ["engine", str(run_copy), "--precision", "fp16", "--max-batch", "4"])
    assert r.exit_code == 0, r.output
    assert (run_copy / "weights" / "model.fp16.engine").is_file()
    assert "trtexec" in r.output and "model.fp16.engine.json" in r.output


@pytest.fixture()
def calibrated_copy(tensorrt_gpu, request, tmp_path):
    pytest.importorskip("torch", reason="the test model is trained and exported with PyTorch")
    run = tmp_path / "run"
    shutil.copytree(request.getfixturevalue("calibrated_run"), run)
    return run


def test_int8_engine_builds_from_the_file_for_this_version_and_runs_int8_layers(calibrated_copy):
    from edgeclass.engine.build import build_engine
    from edgeclass.runtime.backends.tensorrt import TensorRTBackend

    result = build_engine(calibrated_copy, EngineRequest(precision="int8", max_batch=8))
    version = result.sidecar["tensorrt"]
    expected = "model.int8.onnx" if int(version.split(".")[0]) < 10 else "model.int8-fp16.onnx"
    if not (calibrated_copy / "weights" / "model.int8-fp16.onnx").is_file():
        expected = "model.int8.onnx"
    assert result.sidecar["source_onnx"]["file"] == expected
    with TensorRTBackend(result.engine) as backend:
        layers = backend.layers()
        images, _labels = held_out(calibrated_copy, backend.card)
        got = backend.predict(images)
    print("\n".join(f"{layer.name} | {layer.type} | {layer.precision} | {layer.device}" for layer in layers or []))
    assert layers and any("INT8" in layer.precision for layer in layers)
    ref = ort_logits(calibrated_copy / "weights" / expected, images)
    assert np.mean(got.argmax(1) == ref.argmax(1)) >= 0.95


def test_jetson_check_report_on_hardware(run_copy):
    from edgeclass.tools.jetson_check import CheckConfig, jetson_check

    report = jetson_check(run_copy, CheckConfig(precisions=("fp16",), batches=(1, 4), iters=20, limit=32))
    print(report)
    assert "| fp16 | ok |" in report and "### Summary" in report and "Layers of fp16" in report
