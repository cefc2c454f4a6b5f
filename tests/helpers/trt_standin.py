"""A stand-in ``tensorrt`` module and host-memory CUDA for the glue tests (TensorRT cannot run here).

The stand-in implements exactly the TensorRT Python calls edgeclass makes, under NVIDIA's names
(python/src/infer/pyCore.cpp, pyGraph.cpp, pyInt8.cpp on release/8.5 .. main): ``Builder``
(``create_network``, ``create_builder_config``, ``create_optimization_profile``, ``num_DLA_cores``,
``build_serialized_network``), ``OnnxParser.parse_from_file``, ``INetworkDefinition`` (``num_layers``,
``get_layer(i)`` with ``name`` / ``type`` / ``num_outputs`` / ``get_output(j).name``),
``IBuilderConfig`` (``set_flag``, ``clear_flag``, ``set_memory_pool_limit``, ``profiling_verbosity``,
``default_device_type``, ``DLA_core``, ``can_run_on_DLA``, ``int8_calibrator``,
``set_calibration_profile``, timing caches), ``IInt8MinMaxCalibrator`` / ``IInt8EntropyCalibrator2``,
``Runtime`` (``num_DLA_cores``, ``DLA_core``, ``deserialize_cuda_engine``), ``ICudaEngine``
(name-based I/O, ``get_tensor_profile_shape``, ``create_execution_context``,
``create_engine_inspector``) and ``EngineInspector.get_engine_information(LayerInformationFormat.JSON)``
in the JSON layout of NVIDIA's trt-engine-explorer examples. A "plan" is the ONNX file plus a JSON
header, executed with ONNX Runtime, so the glue's own logic runs for real. What it cannot show is that
real TensorRT accepts these calls: tests/engine/test_hardware.py does that where TensorRT exists.
"""

from __future__ import annotations

import json
import types
from typing import Dict, List

import numpy as np

PLAN_MAGIC = b"STANDIN-PLAN\n"


class HostCudaFactory:
    """``open_cuda`` stand-in: numbered host buffers; every device made current is logged."""

    def __init__(self, calls: list):
        self.calls = calls
        self.memory: Dict[int, bytearray] = {}
        self.opened = 0
        self.closed = 0

    def __call__(self, device: int = 0, note=None):
        self.opened += 1
        return HostCuda(self, device)


class HostCuda:
    kind = "stand-in"
    stream_handle = 0

    def __init__(self, factory: HostCudaFactory, device: int):
        self.f, self.device = factory, device
        self.make_current()

    def make_current(self):
        self.f.calls.append(("set_device", self.device))

    def gpu(self):
        from edgeclass.engine.identity import GpuInfo

        return GpuInfo("Stand-in GPU", "8.7")

    def versions(self):
        return "CUDA stand-in"

    def alloc(self, nbytes):
        ptr = 4096 * (len(self.f.memory) + 1)
        self.f.memory[ptr] = bytearray(nbytes)
        return ptr

    def host_buffer(self, shape, dtype):
        return np.empty(shape, dtype)

    def upload(self, ptr, host):
        self.f.memory[ptr][: host.nbytes] = np.ascontiguousarray(host).tobytes()

    def download(self, host, ptr):
        host.reshape(-1).view(np.uint8)[:] = np.frombuffer(bytes(self.f.memory[ptr][: host.nbytes]), np.uint8)

    def synchronize(self):
        pass

    def close(self):
        self.f.closed += 1


def make_tensorrt(version: str, calls: list, cuda: HostCudaFactory, dla_cores: int = 0) -> types.ModuleType:
    """A module with the TensorRT Python API surface the glue uses."""
    import onnx
    import onnxruntime as ort

    trt = types.ModuleType("tensorrt")
    trt.__version__ = version
    major = int(version.split(".")[0])

    class Enum:
        def __init__(self, name, **members):
            self.__name__ = name
            self.__dict__.update(members)

    trt.Logger = type("Logger", (), {"WARNING": 2, "__init__": lambda self, sev=2: None})
    trt.NetworkDefinitionCreationFlag = Enum("NetworkDefinitionCreationFlag", EXPLICIT_BATCH=0, STRONGLY_TYPED=1)
    flags = dict(FP16=0, INT8=1, GPU_FALLBACK=3, TF32=7, VERSION_COMPATIBLE=24)
    if major >= 11:
        del flags["FP16"], flags["INT8"]  # removed in 11 (the stand-in fails like TensorRT on a removed flag)
    trt.BuilderFlag = Enum("BuilderFlag", **flags)
    trt.MemoryPoolType = Enum("MemoryPoolType", WORKSPACE=0)
    trt.DeviceType = Enum("DeviceType", GPU=0, DLA=1)
    trt.TensorIOMode = Enum("TensorIOMode", INPUT=1, OUTPUT=2)
    trt.ProfilingVerbosity = Enum("ProfilingVerbosity", LAYER_NAMES_ONLY=0, NONE=1, DETAILED=2)
    trt.LayerInformationFormat = Enum("LayerInformationFormat", ONELINE=0, JSON=1)
    trt.nptype = lambda dtype: np.float32

    class _Calibrator:
        def __init__(self):
            pass

    if major < 11:
        trt.IInt8MinMaxCalibrator = type("IInt8MinMaxCalibrator", (_Calibrator,), {"algorithm": "MinMaxCalibration"})
        trt.IInt8EntropyCalibrator2 = type("IInt8EntropyCalibrator2", (_Calibrator,), {"algorithm": "EntropyCalibration2"})

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
            self.flags, self.cleared, self.profiles = [], [], []
            self.profiling_verbosity = trt.ProfilingVerbosity.LAYER_NAMES_ONLY
            self.default_device_type, self.DLA_core, self.int8_calibrator = trt.DeviceType.GPU, -1, None

        def set_memory_pool_limit(self, pool, size):
            calls.append(("workspace", size))

        def set_flag(self, flag):
            self.flags.append(flag)

        def clear_flag(self, flag):
            self.cleared.append(flag)

        def add_optimization_profile(self, p):
            self.profiles.append(p)

        def set_calibration_profile(self, p):
            self.calibration_profile = p

        def can_run_on_DLA(self, layer):
            return layer.type != "Gemm"  # the classifier's fc falls back to the GPU

        def create_timing_cache(self, data):
            calls.append(("timing cache loaded", bytes(data)))
            return Cache(bytes(data))

        def set_timing_cache(self, cache, ignore_mismatch):
            self.cache = cache
            return True

        def get_timing_cache(self):
            return self.cache

    class Tensor:
        def __init__(self, name):
            self.name = name

    class Layer:
        def __init__(self, node):
            self.name, self.type, self._outputs = node.name or node.output[0], node.op_type, list(node.output)
            self.num_outputs = len(self._outputs)

        def get_output(self, j):
            return Tensor(self._outputs[j])

    class Network:
        def __init__(self, flags):
            self.flags, self.layers = flags, []

        @property
        def num_layers(self):
            return len(self.layers)

        def get_layer(self, i):
            return self.layers[i]

    class Builder:
        num_DLA_cores = dla_cores

        def __init__(self, logger):
            pass

        def create_network(self, flags):
            calls.append(("network flags", flags))
            return Network(flags)

        def create_builder_config(self):
            return Config()

        def create_optimization_profile(self):
            return Profile()

        def build_serialized_network(self, network, config):
            calls.append(("builder flags", sorted(config.flags)))
            calls.append(("cleared flags", sorted(config.cleared)))
            cal = config.int8_calibrator
            if cal is not None:
                calls.append(("calibrator", type(cal).__mro__[1].__name__))
                if cal.read_calibration_cache() is None:
                    batches = 0
                    while cal.get_batch(["images"]) is not None:
                        batches += 1
                    calls.append(("calibration batches", batches))
                    cal.write_calibration_cache(f"TRT-{major}-{cal.algorithm}\nimages: 3c010a14\n".encode())
            precision = "FP16" if trt.BuilderFlag.__dict__.get("FP16") in config.flags else "FP32"
            if trt.BuilderFlag.__dict__.get("INT8") in config.flags or b"QuantizeLinear" in network.onnx:
                precision = "Int8"
            header = {**config.profiles[0].shapes, "precision": precision,
                      "dla": config.default_device_type == trt.DeviceType.DLA,
                      "detailed": config.profiling_verbosity == trt.ProfilingVerbosity.DETAILED,
                      "layers": [(layer.name, layer.type) for layer in network.layers]}
            return PLAN_MAGIC + json.dumps(header).encode() + b"\n" + network.onnx

    class OnnxParser:
        num_errors = 0

        def __init__(self, network, logger):
            self.network = network

        def parse_from_file(self, path):
            self.network.onnx = open(path, "rb").read()
            self.network.layers = [Layer(n) for n in onnx.load(path, load_external_data=False).graph.node]
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
            x = np.frombuffer(bytes(cuda.memory[self.addr["images"]][: n * 4]), np.float32).reshape(self.shape)
            for name, y in zip(self.engine.outputs, self.engine.session.run(None, {"images": x})):
                y = np.ascontiguousarray(y, dtype=np.float32)
                cuda.memory[self.addr[name]][: y.nbytes] = y.tobytes()
            return True

    class Inspector:
        def __init__(self, engine):
            self.engine, self.execution_context = engine, None

        def get_engine_information(self, fmt):
            assert fmt == trt.LayerInformationFormat.JSON
            h = self.engine.header
            if h["dla"]:
                names = [n for n, t in h["layers"] if t != "Gemm"]
                layers: List = [{"Name": "images to nvm", "LayerType": "Reformat"},
                                {"Name": "{ForeignNode[%s...%s]}" % (names[0], names[-1]), "LayerType": "DLA"},
                                {"Name": "logits from nvm", "LayerType": "Reformat"}]
                layers += [{"Name": n, "LayerType": "CaskGemm"} for n, t in h["layers"] if t == "Gemm"]
            else:
                layers = [{"Name": n, "LayerType": t} for n, t in h["layers"]]
            if not h["detailed"]:
                return json.dumps({"Layers": [d["Name"] for d in layers], "Bindings": ["images"] + self.engine.outputs})
            fmt_text = {"FP16": "Channel major FP16 format where channel % 8 == 0", "Int8": "Thirty-two wide channel vectorized row major Int8 format",
                        "FP32": "Row major linear FP32"}[h["precision"]]
            for d in layers:
                d["Inputs"] = [{"Name": "x", "Format/Datatype": fmt_text}]
                d["Outputs"] = [{"Name": "y", "Format/Datatype": fmt_text}]
            return json.dumps({"Layers": layers, "Bindings": ["images"] + self.engine.outputs})

    class Engine:
        def __init__(self, header, onnx_bytes):
            self.header = header
            self.profile = (header["min"], header["opt"], header["max"])
            self.session = ort.InferenceSession(onnx_bytes, providers=["CPUExecutionProvider"])
            self.outputs = [o.name for o in self.session.get_outputs()]
            self.widths = {o.name: o.shape[-1] for o in self.session.get_outputs()}
            self.num_io_tensors = 1 + len(self.outputs)

        def get_tensor_name(self, i):
            return (["images"] + self.outputs)[i]

        def get_tensor_mode(self, name):
            return trt.TensorIOMode.INPUT if name == "images" else trt.TensorIOMode.OUTPUT

        def get_tensor_dtype(self, name):
            return "float32"

        def get_tensor_profile_shape(self, name, index):
            return self.profile

        def get_tensor_shape(self, name):
            return (-1, 3, *self.profile[2][2:]) if name == "images" else (-1, self.widths[name])

        def create_execution_context(self):
            return Context(self)

        def create_engine_inspector(self):
            return Inspector(self)

    class Runtime:
        num_DLA_cores = dla_cores

        def __init__(self, logger):
            self.DLA_core = -1

        def deserialize_cuda_engine(self, data):
            if not data.startswith(PLAN_MAGIC):
                return None  # what TensorRT does with a plan it cannot read
            header, onnx_bytes = data[len(PLAN_MAGIC):].split(b"\n", 1)
            return Engine(json.loads(header), onnx_bytes)

    trt.Builder, trt.OnnxParser, trt.Runtime = Builder, OnnxParser, Runtime
    return trt


def install(monkeypatch, version: str = "10.3.0", dla_cores: int = 0, calls: list = None):
    """Put the stand-in ``tensorrt`` and host CUDA in place (``monkeypatch``: pytest's); returns
    (calls, cuda factory). Calling it again (another version) keeps the same call log and memory."""
    import sys

    from edgeclass.engine import cuda as engine_cuda

    calls = [] if calls is None else calls
    factory = engine_cuda.open_cuda if isinstance(engine_cuda.open_cuda, HostCudaFactory) else HostCudaFactory(calls)
    monkeypatch.setattr(engine_cuda, "open_cuda", factory)
    monkeypatch.setitem(sys.modules, "tensorrt", make_tensorrt(version, factory.calls, factory, dla_cores))
    return factory.calls, factory
