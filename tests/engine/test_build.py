"""The glue code around TensorRT (build_engine, TensorRTBackend) run against a stand-in.

TensorRT cannot run on this machine, so these tests put the stand-in ``tensorrt`` module and
host-memory CUDA of tests/helpers/trt_standin.py in place. It implements exactly the TensorRT Python
calls the glue makes (NVIDIA's names) and "executes" a plan with ONNX Runtime, so the glue's own logic
runs for real: flags set and cleared, profile, device made current, DLA placement, the implicit
calibrator, engine + sidecar + timing cache written, staleness refused with the rebuild command or
rebuilt, deserialisation failures, batch chunking and padding, every output matching ONNX Runtime.
What it cannot show is that real TensorRT accepts these calls; tests/engine/test_hardware.py does that
where TensorRT and a GPU exist.
"""

from __future__ import annotations

import json
import shlex
import shutil

import numpy as np
import pytest
import trt_standin
from trt_standin import PLAN_MAGIC

from edgeclass.engine.plan import EngineRequest
from edgeclass.errors import EdgeclassError
from edgeclass.runtime.backends import tensorrt as tb


@pytest.fixture()
def standin(monkeypatch):
    """Install the stand-in TensorRT (version and DLA cores settable) and host-memory CUDA; returns the call log."""
    state = {}

    def install(version="10.3.0", dla_cores=0):
        calls, state["cuda"] = trt_standin.install(monkeypatch, version, dla_cores, state.get("calls"))
        state["calls"] = calls
        return calls

    install.state = state
    return install


@pytest.fixture()
def run_copy(exported_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(exported_run, run)
    return run


def images(n, seed=0):
    return np.random.default_rng(seed).random((n, 3, 32, 32), dtype=np.float32)


def test_build_hands_tensorrt_the_planned_flags_and_writes_engine_sidecar_and_cache(standin, run_copy):
    from edgeclass.engine.build import build_engine

    calls = standin("8.6.2")
    result = build_engine(run_copy, EngineRequest(precision="fp16", max_batch=4, workspace_gib=0.5), log=lambda m: None)
    weights = run_copy / "weights"
    assert result.engine == weights / "model.fp16.engine" and result.engine.read_bytes().startswith(PLAN_MAGIC)
    assert ("network flags", 1 << 0) in calls  # EXPLICIT_BATCH on 8.6
    assert ("builder flags", [0]) in calls  # FP16
    assert ("workspace", 1 << 29) in calls
    side = json.loads((weights / "model.fp16.engine.json").read_text())
    assert side["tensorrt"] == "8.6.2" and side["gpu"]["name"] == "Stand-in GPU"
    assert side["input"]["max"] == [4, 3, 32, 32] and side["source_onnx"]["file"] == "model.onnx"
    timing = weights / "timing.trt8.6.2.sm87.cache"
    assert timing.read_bytes() == b"timing:"
    assert "--fp16" in shlex.split(result.trtexec) and f"--timingCacheFile={timing}" in shlex.split(result.trtexec)

    build_engine(run_copy, EngineRequest(precision="fp16", max_batch=4), log=lambda m: None)
    assert ("timing cache loaded", b"timing:") in calls  # the second build reuses the first's cache


def test_fp32_engine_clears_tf32_and_int8_needs_calibrate(standin, run_copy):
    from edgeclass.engine.build import build_engine

    calls = standin("10.3.0")
    with pytest.raises(EdgeclassError, match="edgeclass calibrate"):
        build_engine(run_copy, EngineRequest(precision="int8"), log=lambda m: None)
    calls.clear()
    result = build_engine(run_copy, EngineRequest(precision="fp32"), log=lambda m: None)
    assert ("network flags", 1 << 1) in calls and ("builder flags", []) in calls  # STRONGLY_TYPED, no FP16
    assert ("cleared flags", [7]) in calls  # BuilderFlag.TF32 is on by default: an fp32 engine turns it off
    assert result.sidecar["build"]["cleared_flags"] == ["TF32"] and "--noTF32" in shlex.split(result.trtexec)
    calls.clear()
    build_engine(run_copy, EngineRequest(precision="fp16"), log=lambda m: None)
    assert ("cleared flags", []) in calls


@pytest.fixture()
def calibrated_copy(calibrated_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(calibrated_run, run)
    return run


def test_int8_source_follows_the_tensorrt_version(standin, calibrated_copy):
    from edgeclass.engine.build import build_engine

    weights = calibrated_copy / "weights"
    assert (weights / "model.int8-fp16.onnx").is_file(), "the calibrated fixture needs ModelOpt (edgeclass[modelopt])"
    calls = standin("10.3.0")
    r10 = build_engine(calibrated_copy, EngineRequest(precision="int8", max_batch=2), log=lambda m: None)
    assert r10.sidecar["source_onnx"]["file"] == "model.int8-fp16.onnx" and r10.sidecar["build"]["strongly_typed"]
    assert ("network flags", 1 << 1) in calls and ("builder flags", []) in calls  # strongly typed, no precision flags
    layers = r10.sidecar["layers"]
    assert layers and {row["precision"] for row in layers} == {"INT8"}  # the inspector's rows, recorded
    calls.clear()
    standin("8.6.2")
    r86 = build_engine(calibrated_copy, EngineRequest(precision="int8", max_batch=2), log=lambda m: None)
    assert r86.sidecar["source_onnx"]["file"] == "model.int8.onnx" and ("builder flags", [0, 1]) in calls  # INT8 + FP16
    (weights / "model.int8-fp16.onnx").unlink()  # calibrated without ModelOpt
    standin("10.3.0")
    r10w = build_engine(calibrated_copy, EngineRequest(precision="int8", max_batch=2), log=lambda m: None)
    assert r10w.sidecar["source_onnx"]["file"] == "model.int8.onnx" and not r10w.sidecar["build"]["strongly_typed"]
    standin("11.0.0")
    with pytest.raises(EdgeclassError, match="model.int8-fp16.onnx, which is missing"):
        build_engine(calibrated_copy, EngineRequest(precision="int8"), log=lambda m: None)


def test_device_cuda_1_is_made_current_for_build_and_every_run(standin, run_copy):
    from edgeclass.engine.build import build_engine

    calls = standin("10.3.0")
    result = build_engine(run_copy, EngineRequest(precision="fp16", max_batch=2, device="cuda:1"), log=lambda m: None)
    assert ("set_device", 1) in calls and ("set_device", 0) not in calls
    assert "--device=1" in shlex.split(result.trtexec)
    calls.clear()
    with tb.TensorRTBackend(result.engine, device="cuda:1") as backend:
        backend.predict(images(3))
    assert calls and {c for c in calls if c[0] == "set_device"} == {("set_device", 1)}
    assert sum(c == ("set_device", 1) for c in calls) >= 3  # opened, before deserialising, before each enqueue
    cuda = standin.state["cuda"]
    assert cuda.opened == cuda.closed  # every CUDA object of the build and the backend was released


def test_dla_build_is_static_reports_gpu_fallback_and_routes_int8_through_the_calibrator(standin, calibrated_copy):
    from edgeclass.engine.build import build_engine

    calls = standin("8.6.2", dla_cores=2)
    fp16 = build_engine(calibrated_copy, EngineRequest(precision="fp16", dla_core=0), log=lambda m: None)
    assert fp16.engine.name == "model.fp16.dla0.engine"  # never replaces the GPU engine
    side = fp16.sidecar
    assert side["input"]["min"] == side["input"]["opt"] == side["input"]["max"] == [1, 3, 32, 32]
    args = shlex.split(fp16.trtexec)
    assert {a.split(":", 1)[1] for a in args if a.startswith(("--minShapes", "--optShapes", "--maxShapes"))} == {"1x3x32x32"}
    fallback = side["placement"]["gpu_fallback"]
    assert side["placement"]["dla_layers"] > 0 and len(fallback) == 1  # the fc (Gemm) runs on the GPU
    with tb.TensorRTBackend(fp16.engine) as backend:
        text = backend.describe()
        devices = {row.device for row in backend.layers()}
    assert f"DLA core 0: {side['placement']['dla_layers']} of" in text and f"1 on the GPU ({fallback[0]})" in text
    assert devices == {"DLA", "DLA transfer", "GPU"}
    with pytest.raises(EdgeclassError, match="use --batch N"):
        build_engine(calibrated_copy, EngineRequest(precision="fp16", dla_core=0, min_batch=1, max_batch=8), log=lambda m: None)
    calls.clear()
    int8 = build_engine(calibrated_copy, EngineRequest(precision="int8", dla_core=1, calib_images=40), log=lambda m: None)
    assert int8.sidecar["source_onnx"]["file"] == "model.onnx"  # implicit calibration, never the Q/DQ file
    assert ("calibrator", "IInt8MinMaxCalibrator") in calls and ("calibration batches", 40) in calls
    assert int8.sidecar["build"]["calibration"]["calibrator"] == "IInt8MinMaxCalibrator"
    with pytest.raises(EdgeclassError, match="DLA does not run explicitly quantized"):
        build_engine(calibrated_copy / "weights" / "model.int8.onnx", EngineRequest(precision="int8", dla_core=0), log=lambda m: None)
    with pytest.raises(EdgeclassError, match="3 DLA cores|has 2 DLA cores"):
        build_engine(calibrated_copy, EngineRequest(precision="fp16", dla_core=2), log=lambda m: None)


def test_engine_outputs_come_from_the_onnx_and_all_agree(standin, run_copy):
    """A model with a second output (``embedding``, as the people models will have): the engine reads
    every output, ``predict`` stays the logits."""
    import onnx
    from onnx import helper

    from edgeclass.engine.build import build_engine

    path = run_copy / "weights" / "model.onnx"
    model = onnx.load(str(path))
    gemm = next(n for n in model.graph.node if n.op_type == "Gemm")
    model.graph.node.append(helper.make_node("Identity", [gemm.input[0]], ["embedding"], name="embedding_out"))
    width = next(i for i in model.graph.initializer if i.name == gemm.input[1]).dims[1]
    model.graph.output.append(helper.make_tensor_value_info("embedding", onnx.TensorProto.FLOAT, ["batch", width]))
    onnx.save(model, str(path))
    standin("10.3.0")
    result = build_engine(run_copy, EngineRequest(precision="fp32", max_batch=4), log=lambda m: None)
    assert result.sidecar["outputs"] == ["logits", "embedding"]
    import onnxruntime as ort

    x = images(6)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    ref = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"images": x})))
    with tb.TensorRTBackend(result.engine) as backend:
        outs = backend.predict_outputs(x)
        logits = backend.predict(x)
    assert set(outs) == {"logits", "embedding"} and outs["embedding"].shape == (6, width)
    np.testing.assert_allclose(outs["embedding"], ref["embedding"], atol=1e-5)
    np.testing.assert_allclose(logits, ref["logits"], atol=1e-5)


def test_rebuild_on_a_new_tensorrt_uses_its_own_absolute_timing_cache(standin, run_copy, monkeypatch, tmp_path):
    from edgeclass.engine.build import build_engine

    calls = standin("8.6.2")
    result = build_engine(run_copy, EngineRequest(precision="fp16", batch=1), log=lambda m: None)
    weights = (run_copy / "weights").resolve()
    assert result.sidecar["build"]["timing_cache"] == str(weights / "timing.trt8.6.2.sm87.cache")
    standin("10.3.0")
    calls.clear()
    monkeypatch.chdir(tmp_path)  # another working directory
    with tb.TensorRTBackend(result.engine, rebuild_stale=True) as backend:
        new = backend.sidecar["build"]["timing_cache"]
    assert new == str(weights / "timing.trt10.3.0.sm87.cache") and (weights / "timing.trt10.3.0.sm87.cache").is_file()
    assert ("timing cache loaded", b"") in calls  # a fresh cache, not 8.6's
    assert (weights / "timing.trt8.6.2.sm87.cache").read_bytes() == b"timing:"  # the old version's file untouched


def test_an_agx_engine_is_stale_on_an_orin_nano(standin, run_copy, monkeypatch):
    from edgeclass.engine.build import build_engine
    from edgeclass.engine import identity

    agx = {"module": "NVIDIA Jetson AGX Orin Developer Kit", "module_id": "nvidia,p3737-0000+p3701-0005", "l4t": "R36.4.0"}
    nano = {"module": "NVIDIA Jetson Orin Nano Developer Kit", "module_id": "nvidia,p3768-0000+p3767-0005", "l4t": "R36.3.0"}
    standin("10.3.0", dla_cores=2)
    monkeypatch.setattr("edgeclass.engine.build.host_identity", lambda: dict(agx, dla_cores=None))
    result = build_engine(run_copy, EngineRequest(precision="fp16", dla_core=0), log=lambda m: None)
    assert result.sidecar["jetson_module"] == agx["module"] and result.sidecar["l4t"] == "R36.4.0"
    standin("10.3.0", dla_cores=0)  # the same sm_87 GPU, TensorRT and ONNX, on the smaller board
    monkeypatch.setattr(tb, "host_identity", lambda dla_cores=None: dict(nano, dla_cores=dla_cores))
    with pytest.raises(EdgeclassError) as e:
        tb.TensorRTBackend(result.engine)
    msg = str(e.value)
    assert "built on a NVIDIA Jetson AGX Orin Developer Kit, this is a NVIDIA Jetson Orin Nano Developer Kit" in msg
    assert "built on L4T R36.4.0, this is L4T R36.3.0" in msg and "this device has 0 DLA core(s)" in msg
    assert identity.identity_stale_reasons({"module": agx["module"]}, {"module": agx["module"]}) == []


def test_backend_runs_the_engine_in_chunks_and_matches_onnxruntime(standin, run_copy):
    from edgeclass.inference import onnx_logits
    from edgeclass.engine.build import build_engine

    standin("10.3.0")
    result = build_engine(run_copy, EngineRequest(precision="fp32", min_batch=2, max_batch=4), log=lambda m: None)
    x = images(11)
    with tb.TensorRTBackend(result.engine) as backend:
        assert (backend.min_batch, backend.max_batch) == (2, 4)
        assert backend.card.num_classes == 10 and backend.describe() == "TensorRT 10.3.0 fp32 on Stand-in GPU (sm_87); 10 layers: GPU 10; FP32 10"
        got = backend.predict(x)  # 11 images: chunks of 4, 4, 3
        one = backend.predict(x[:1])  # below the min batch: padded to 2
        with pytest.raises(EdgeclassError, match="engine takes N x 3 x 32 x 32"):
            backend.predict(np.zeros((1, 3, 64, 64), np.float32))
    ref = onnx_logits(run_copy / "weights" / "model.onnx", x)
    np.testing.assert_allclose(got, ref, atol=1e-5)
    np.testing.assert_allclose(one, ref[:1], atol=1e-5)


def test_stale_engine_is_refused_with_the_exact_command_then_rebuilt_on_request(standin, run_copy, capsys):
    from edgeclass.engine.build import build_engine

    standin("8.6.2")
    result = build_engine(run_copy, EngineRequest(precision="fp16", batch=2), log=lambda m: None)
    standin("10.3.0")  # the device got a newer JetPack
    with pytest.raises(EdgeclassError) as e:
        tb.TensorRTBackend(result.engine)
    msg = str(e.value)
    assert "built with TensorRT 8.6.2, this is TensorRT 10.3.0" in msg
    assert f"`edgeclass engine {run_copy / 'weights'} --precision fp16 --batch 2`" in msg and "\n" not in msg
    with tb.TensorRTBackend(result.engine, rebuild_stale=True) as backend:
        assert backend.sidecar["tensorrt"] == "10.3.0" and backend.max_batch == 2
    assert "rebuilding" in capsys.readouterr().out
    assert json.loads(result.sidecar_path.read_text())["tensorrt"] == "10.3.0"


def test_changed_onnx_and_missing_sidecar_are_stale(standin, run_copy):
    from edgeclass.engine.build import build_engine

    standin()
    result = build_engine(run_copy, EngineRequest(precision="fp32", batch=1), log=lambda m: None)
    onnx = run_copy / "weights" / "model.onnx"
    onnx.write_bytes(onnx.read_bytes() + b"\0")  # a re-export: any change of the file changes its digest
    with pytest.raises(EdgeclassError, match="model.onnx changed since the build"):
        tb.TensorRTBackend(result.engine)
    result.sidecar_path.unlink()
    with pytest.raises(EdgeclassError, match="sidecar .engine.json is missing.*--precision fp32"):
        tb.TensorRTBackend(result.engine)


def test_unreadable_plan_is_refused_like_a_stale_one(standin, run_copy):
    from edgeclass.engine.build import build_engine

    standin()
    result = build_engine(run_copy, EngineRequest(precision="fp32", batch=1), log=lambda m: None)
    result.engine.write_bytes(b"truncated")
    with pytest.raises(EdgeclassError, match="could not deserialise it.*edgeclass engine"):
        tb.TensorRTBackend(result.engine)


def test_load_backend_picks_tensorrt_for_engine_files(standin, run_copy):
    from edgeclass.engine.build import build_engine
    from edgeclass.runtime.backends import load_backend

    standin()
    result = build_engine(run_copy, EngineRequest(precision="fp32", max_batch=2), log=lambda m: None)
    backend = load_backend(result.engine, device="cuda:0")
    try:
        assert backend.name == "tensorrt" and backend.predict(images(3)).shape == (3, 10)
    finally:
        backend.close()


def test_tensorrt_older_than_8_5_is_refused_before_anything_is_built(standin, run_copy):
    from edgeclass.engine.build import build_engine

    standin("8.4.3")
    with pytest.raises(EdgeclassError, match="needs TensorRT 8.5 or newer"):
        build_engine(run_copy, EngineRequest(precision="fp16"), log=lambda m: None)
    assert not (run_copy / "weights" / "model.fp16.engine").exists()
