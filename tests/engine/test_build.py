"""The glue code around TensorRT (build_engine, TensorRTBackend) run against a stand-in.

TensorRT cannot run on this machine, so this file puts a small stand-in ``tensorrt`` module and a
host-memory stand-in for CUDA in place. The stand-in implements exactly the TensorRT Python calls the
glue makes (names from NVIDIA's 8.5+/10.x API docs) and "executes" a plan with ONNX Runtime, so the
glue's own logic runs for real: flags and profile handed over, engine + sidecar + timing cache
written, staleness refused with the rebuild command or rebuilt, deserialisation failures, batch
chunking and padding, logits that match ONNX Runtime. What it cannot show is that real TensorRT
accepts these calls; tests/engine/test_hardware.py does that where TensorRT and a GPU exist.
"""

from __future__ import annotations

import json
import shlex
import shutil
import sys
import types
from typing import Dict

import numpy as np
import pytest

from edgeclass.engine.plan import EngineRequest
from edgeclass.engine.sidecar import GpuInfo
from edgeclass.errors import EdgeclassError
from edgeclass.engine import cuda as engine_cuda
from edgeclass.runtime.backends import tensorrt as tb

PLAN_MAGIC = b"STANDIN-PLAN\n"


class HostCuda:
    """Stand-in for cuda-python / torch device memory: numbered host buffers."""

    kind = "stand-in"
    memory: Dict[int, bytearray] = {}

    def __init__(self, device: int = 0):
        self.ptrs = []

    def gpu(self):
        return GpuInfo("Stand-in GPU", "8.7")

    def alloc(self, nbytes):
        ptr = 4096 * (len(HostCuda.memory) + 1)
        HostCuda.memory[ptr] = bytearray(nbytes)
        return ptr

    def upload(self, ptr, host):
        HostCuda.memory[ptr][: host.nbytes] = host.tobytes()

    def download(self, host, ptr):
        host.reshape(-1).view(np.uint8)[:] = np.frombuffer(bytes(HostCuda.memory[ptr][: host.nbytes]), np.uint8)

    stream_handle = 0

    def synchronize(self):
        pass

    def close(self):
        pass


def make_tensorrt(version: str, calls: list) -> types.ModuleType:
    """A module with the TensorRT Python API surface the glue uses."""
    import onnxruntime as ort

    trt = types.ModuleType("tensorrt")
    trt.__version__ = version

    class Enum:
        def __init__(self, **members):
            self.__dict__.update(members)

    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, sev=2: None})
    trt.NetworkDefinitionCreationFlag = Enum(EXPLICIT_BATCH=0, STRONGLY_TYPED=1)
    trt.NetworkDefinitionCreationFlag.__name__ = "NetworkDefinitionCreationFlag"
    trt.BuilderFlag = Enum(FP16=0, INT8=1, GPU_FALLBACK=3, VERSION_COMPATIBLE=24)
    trt.MemoryPoolType = Enum(WORKSPACE=0)
    trt.DeviceType = Enum(GPU=0, DLA=1)
    trt.TensorIOMode = Enum(INPUT=1, OUTPUT=2)
    trt.nptype = lambda dtype: np.float32

    class Profile:
        def set_shape(self, name, lo, opt, hi):
            self.shapes = {"name": name, "min": list(lo), "opt": list(opt), "max": list(hi)}

    class Cache:
        def __init__(self, data):
            self.data = data

        def serialize(self):
            return b"timing:" + self.data

    class Config:
        def __init__(self):
            self.flags, self.profiles = [], []

        def set_memory_pool_limit(self, pool, size):
            calls.append(("workspace", size))

        def set_flag(self, flag):
            self.flags.append(flag)

        def add_optimization_profile(self, p):
            self.profiles.append(p)

        def create_timing_cache(self, data):
            calls.append(("timing cache loaded", bytes(data)))
            return Cache(bytes(data))

        def set_timing_cache(self, cache, ignore_mismatch):
            self.cache = cache
            return True

        def get_timing_cache(self):
            return self.cache

    class Network:
        pass

    class Builder:
        num_DLA_cores = 0

        def __init__(self, logger):
            pass

        def create_network(self, flags):
            calls.append(("network flags", flags))
            return Network()

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            calls.append(("builder flags", sorted(config.flags)))
            header = json.dumps(config.profiles[0].shapes).encode() + b"\n"
            return PLAN_MAGIC + header + network.onnx

    class OnnxParser:
        num_errors = 0

        def __init__(self, network, logger):
            self.network = network

        def parse_from_file(self, path):
            self.network.onnx = open(path, "rb").read()
            return True

    class Context:
        def __init__(self, engine):
            self.engine, self.addr, self.shape = engine, {}, None

        def set_tensor_address(self, name, ptr):
            self.addr[name] = ptr

        def set_input_shape(self, name, shape):
            lo, _opt, hi = self.engine.profile
            ok = all(a <= s <= b for a, s, b in zip(lo, shape, hi))
            self.shape = tuple(shape) if ok else None
            return ok

        def execute_async_v3(self, stream):
            n = int(np.prod(self.shape))
            x = np.frombuffer(bytes(HostCuda.memory[self.addr["images"]][: n * 4]), np.float32).reshape(self.shape)
            y = self.engine.session.run(None, {"images": x})[0].astype(np.float32)
            HostCuda.memory[self.addr["logits"]][: y.nbytes] = y.tobytes()
            return True

    class Engine:
        num_io_tensors = 2

        def __init__(self, shapes, onnx_bytes):
            self.profile = (shapes["min"], shapes["opt"], shapes["max"])
            self.session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
            self.classes = self.session.get_outputs()[0].shape[-1]

        def get_tensor_name(self, i):
            return ("images", "logits")[i]

        def get_tensor_mode(self, name):
            return trt.TensorIOMode.INPUT if name == "images" else trt.TensorIOMode.OUTPUT

        def get_tensor_dtype(self, name):
            return "float32"

        def get_tensor_profile_shape(self, name, index):
            return self.profile

        def get_tensor_shape(self, name):
            return (-1, 3, *self.profile[2][2:]) if name == "images" else (-1, self.classes)

        def create_execution_context(self):
            return Context(self)

    class Runtime:
        def __init__(self, logger):
            pass

        def deserialize_cuda_engine(self, data):
            if not data.startswith(PLAN_MAGIC):
                return None  # what TensorRT does with a plan it cannot read
            header, onnx_bytes = data[len(PLAN_MAGIC):].split(b"\n", 1)
            return Engine(json.loads(header), onnx_bytes)

    trt.Builder, trt.OnnxParser, trt.Runtime = Builder, OnnxParser, Runtime
    return trt


@pytest.fixture()
def standin(monkeypatch):
    """Install the stand-in TensorRT (version settable) and host-memory CUDA; returns the call log."""
    calls: list = []

    def install(version="10.3.0"):
        monkeypatch.setitem(sys.modules, "tensorrt", make_tensorrt(version, calls))
        return calls

    monkeypatch.setattr(engine_cuda, "open_cuda", lambda device=0: HostCuda(device))
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


def test_int8_on_tensorrt_10_is_a_strongly_typed_build_of_the_qdq_model(standin, run_copy):
    from edgeclass.engine.build import build_engine

    calls = standin("10.3.0")
    with pytest.raises(EdgeclassError, match="edgeclass calibrate"):
        build_engine(run_copy, EngineRequest(precision="int8"), log=lambda m: None)
    calls.clear()
    build_engine(run_copy, EngineRequest(precision="fp32"), log=lambda m: None)
    assert ("network flags", 1 << 1) in calls and ("builder flags", []) in calls  # STRONGLY_TYPED, no FP16


def test_backend_runs_the_engine_in_chunks_and_matches_onnxruntime(standin, run_copy):
    from edgeclass.inference import onnx_logits
    from edgeclass.engine.build import build_engine

    standin("10.3.0")
    result = build_engine(run_copy, EngineRequest(precision="fp32", min_batch=2, max_batch=4), log=lambda m: None)
    x = images(11)
    with tb.TensorRTBackend(result.engine) as backend:
        assert (backend.min_batch, backend.max_batch) == (2, 4)
        assert backend.card.num_classes == 10 and backend.describe() == "TensorRT 10.3.0 fp32 on Stand-in GPU (sm_87)"
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
