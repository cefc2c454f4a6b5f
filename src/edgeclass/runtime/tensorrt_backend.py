"""TensorRT runtime backend: load a ``model.<precision>.engine`` and run it.

Imports nothing heavy at module level. ``tensorrt`` is imported when a backend is created; device
memory comes from cuda-python (``cuda.bindings.runtime``, or the older ``cuda.cudart``) when it is
importable, else from PyTorch CUDA tensors, so a Jetson without PyTorch can run engines.

On load the sidecar (``model.<precision>.engine.json``) is checked against the running TensorRT,
the GPU and the source ONNX (when it sits next to the engine): a stale engine, or one TensorRT cannot
deserialise, is either rebuilt (``rebuild_stale=True``) or refused with one line that says why and
gives the exact rebuild command.

Untested on real hardware so far: no machine this was written on has TensorRT or a GPU. The API
calls follow NVIDIA's 8.5+/10.x/11.x Python docs (name-based I/O, execute_async_v3).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from ..errors import EdgeclassError
from ..spec import ModelCard, check_class_count, sha256_file
from .. import trt as decide


# --------------------------------------------------------------------------------------------
# CUDA: device buffers, a stream, GPU name (cuda-python first, PyTorch as a fallback)
# --------------------------------------------------------------------------------------------


def _import_cudart():
    try:
        from cuda.bindings import runtime as cudart  # cuda-python >= 12.6

        return cudart
    except ImportError:
        pass
    try:
        from cuda import cudart  # older cuda-python

        return cudart
    except ImportError:
        return None


def _torch_cuda():
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


NO_CUDA_MESSAGE = (
    "TensorRT needs CUDA device memory from cuda-python or PyTorch and neither is usable here: "
    "`pip install cuda-python` (match your CUDA version, e.g. 'cuda-python>=12.6,<12.7' on JetPack 6.1/6.2) "
    "or install NVIDIA's PyTorch wheel for your JetPack"
)


class CudaPython:
    """Device memory and a stream through the CUDA runtime API of cuda-python."""

    kind = "cuda-python"

    def __init__(self, cudart: Any, device: int = 0):
        self.rt = cudart
        self._check(cudart.cudaSetDevice(device), "cudaSetDevice")
        self.stream = self._check(cudart.cudaStreamCreate(), "cudaStreamCreate")
        self._ptrs: List[int] = []
        self.device = device

    def _check(self, result: Any, what: str) -> Any:
        err, rest = (result[0], result[1:]) if isinstance(result, tuple) else (result, ())
        if err != self.rt.cudaError_t.cudaSuccess:
            raise EdgeclassError(f"CUDA {what} failed: {err}")
        return rest[0] if len(rest) == 1 else (rest or None)

    def gpu(self) -> decide.GpuInfo:
        props = self._check(self.rt.cudaGetDeviceProperties(self.device), "cudaGetDeviceProperties")
        name = props.name.split(b"\0", 1)[0].decode() if isinstance(props.name, bytes) else str(props.name)
        return decide.GpuInfo(name=name, compute_capability=f"{props.major}.{props.minor}")

    def alloc(self, nbytes: int) -> int:
        ptr = int(self._check(self.rt.cudaMalloc(max(int(nbytes), 1)), "cudaMalloc"))
        self._ptrs.append(ptr)
        return ptr

    def upload(self, ptr: int, host: np.ndarray) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyHostToDevice
        self._check(self.rt.cudaMemcpyAsync(ptr, host.ctypes.data, host.nbytes, kind, self.stream), "cudaMemcpyAsync")

    def download(self, host: np.ndarray, ptr: int) -> None:
        kind = self.rt.cudaMemcpyKind.cudaMemcpyDeviceToHost
        self._check(self.rt.cudaMemcpyAsync(host.ctypes.data, ptr, host.nbytes, kind, self.stream), "cudaMemcpyAsync")

    @property
    def stream_handle(self) -> int:
        try:
            return int(self.stream)
        except TypeError:  # cuda-python versions whose handle types lack __int__
            return int(self.stream.getPtr())

    def synchronize(self) -> None:
        self._check(self.rt.cudaStreamSynchronize(self.stream), "cudaStreamSynchronize")

    def close(self) -> None:
        for p in self._ptrs:
            self.rt.cudaFree(p)
        self._ptrs = []
        if self.stream is not None:
            self.rt.cudaStreamDestroy(self.stream)
            self.stream = None


class TorchCuda:
    """The same through PyTorch CUDA tensors (for desktops and JetPack images with NVIDIA's torch)."""

    kind = "torch"

    def __init__(self, torch: Any, device: int = 0):
        self.torch = torch
        self.device = torch.device("cuda", device)
        self.stream = torch.cuda.Stream(device=self.device)
        self._tensors: Dict[int, Any] = {}

    def gpu(self) -> decide.GpuInfo:
        major, minor = self.torch.cuda.get_device_capability(self.device)
        return decide.GpuInfo(name=self.torch.cuda.get_device_name(self.device), compute_capability=f"{major}.{minor}")

    def alloc(self, nbytes: int) -> int:
        t = self.torch.empty(max(int(nbytes), 1), dtype=self.torch.uint8, device=self.device)
        self._tensors[t.data_ptr()] = t
        return t.data_ptr()

    def upload(self, ptr: int, host: np.ndarray) -> None:
        dst = self._tensors[ptr][: host.nbytes]
        with self.torch.cuda.stream(self.stream):
            dst.copy_(self.torch.from_numpy(host.reshape(-1).view(np.uint8)), non_blocking=False)

    def download(self, host: np.ndarray, ptr: int) -> None:
        src = self._tensors[ptr][: host.nbytes]
        with self.torch.cuda.stream(self.stream):
            data = src.to("cpu")
        self.stream.synchronize()
        host.reshape(-1).view(np.uint8)[:] = data.numpy()

    @property
    def stream_handle(self) -> int:
        return int(self.stream.cuda_stream)

    def synchronize(self) -> None:
        self.stream.synchronize()

    def close(self) -> None:
        self._tensors = {}


def open_cuda(device: int = 0):
    """cuda-python if importable, else PyTorch with CUDA; a one-line EdgeclassError otherwise."""
    cudart = _import_cudart()
    if cudart is not None:
        return CudaPython(cudart, device)
    torch = _torch_cuda()
    if torch is not None:
        return TorchCuda(torch, device)
    raise EdgeclassError(NO_CUDA_MESSAGE)


def import_tensorrt():
    """``tensorrt`` module and its version (refusing < 8.5), or the one-line "how to get it" error."""
    try:
        import tensorrt as trt
    except ImportError:
        raise EdgeclassError(decide.NO_TENSORRT_MESSAGE) from None
    return trt, decide.check_supported(decide.TrtVersion.parse(trt.__version__))


# --------------------------------------------------------------------------------------------
# the backend
# --------------------------------------------------------------------------------------------


def read_sidecar(engine: str | os.PathLike) -> Optional[Dict[str, Any]]:
    """The engine's sidecar, None when absent; an EdgeclassError when present but unreadable."""
    path = decide.sidecar_path(engine)
    if not path.is_file():
        return None
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise EdgeclassError(f"cannot read {path}: {e}") from None
    return decide.check_sidecar(d, path)


def source_onnx_sha256(engine: str | os.PathLike, sidecar: Optional[Dict[str, Any]]) -> Optional[str]:
    """Digest of the ONNX the engine was built from, when that file sits next to the engine."""
    if not sidecar:
        return None
    name = (sidecar.get("source_onnx") or {}).get("file")
    if not name:
        return None
    p = Path(engine).parent / name
    return sha256_file(p) if p.is_file() else None


class TensorRTBackend:
    """Runs a serialized TensorRT engine: float32 NCHW [0,1] in, float32 logits out."""

    name = "tensorrt"

    def __init__(self, path: str | os.PathLike, device: int = 0, rebuild_stale: bool = False):
        self.path = Path(path)
        if not self.path.is_file():
            raise EdgeclassError(f"engine {self.path} does not exist; build it with `edgeclass engine RUN --precision fp16`")
        self.device = device
        self.rebuild_stale = rebuild_stale
        self._cuda = None
        self._context = None
        self._engine = None
        trt, self.version = import_tensorrt()
        self._trt = trt
        self._cuda = open_cuda(device)
        self.gpu = self._cuda.gpu()
        sidecar = read_sidecar(self.path)
        verdict = decide.staleness(sidecar, self.version, self.gpu, source_onnx_sha256(self.path, sidecar))
        if verdict.stale:
            sidecar = self._rebuild_or_refuse(verdict, sidecar)
        engine = self._deserialize(sidecar)
        if engine is None:
            sidecar = self._rebuild_or_refuse(decide.deserialize_failure_verdict(), sidecar)
            engine = self._deserialize(sidecar)
            if engine is None:
                raise EdgeclassError(f"TensorRT could not deserialise {self.path} even after rebuilding it")
        assert sidecar is not None
        self.sidecar = sidecar
        self.card: ModelCard = ModelCard.from_dict(sidecar["card"])
        self.precision = str(sidecar.get("precision", self.card.precision))
        self._engine = engine
        self._setup_io()

    # -- load -------------------------------------------------------------------------------

    def _rebuild_or_refuse(self, verdict: decide.Verdict, sidecar: Optional[Dict[str, Any]]) -> Dict[str, Any]:
        precision = (sidecar or {}).get("precision") or _precision_from_name(self.path)
        command = decide.rebuild_command(self.path.parent, sidecar, precision)
        if not self.rebuild_stale:
            raise EdgeclassError(verdict.message(self.path, command))
        from ..export.tensorrt import build_engine, request_from_sidecar

        print(f"{self.path}: {'; '.join(verdict.reasons)}; rebuilding", flush=True)
        request = request_from_sidecar(sidecar, precision, self.device)
        result = build_engine(self.path.parent, request, engine=self.path)
        return result.sidecar

    def _deserialize(self, sidecar: Optional[Dict[str, Any]]):
        trt = self._trt
        logger = trt.Logger(trt.Logger.WARNING)
        runtime = trt.Runtime(logger)
        if sidecar and (sidecar.get("build") or {}).get("dla_core") is not None:
            runtime.DLA_core = int(sidecar["build"]["dla_core"])
        if sidecar and (sidecar.get("build") or {}).get("version_compatible"):
            # version-compatible plans embed a lean runtime (host code); we built it, so trust it
            runtime.engine_host_code_allowed = True
        self._runtime = runtime
        try:
            return runtime.deserialize_cuda_engine(self.path.read_bytes())
        except Exception:  # some versions raise instead of returning None
            return None

    def _setup_io(self) -> None:
        trt, engine = self._trt, self._engine
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        inputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT]
        outputs = [n for n in names if engine.get_tensor_mode(n) == trt.TensorIOMode.OUTPUT]
        if len(inputs) != 1 or len(outputs) != 1:
            raise EdgeclassError(f"{self.path}: expected one input and one output, found {len(inputs)} and {len(outputs)}")
        self.input_name, self.output_name = inputs[0], outputs[0]
        self._in_dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(self.input_name)))
        self._out_dtype = np.dtype(trt.nptype(engine.get_tensor_dtype(self.output_name)))
        lo, _opt, hi = _profile_shape(engine, self.input_name)
        self.min_batch: int = int(lo[0])
        self.max_batch: Optional[int] = int(hi[0])
        self._chw: Tuple[int, ...] = tuple(int(v) for v in hi[1:])
        out_shape = tuple(engine.get_tensor_shape(self.output_name))
        check_class_count(self.card, int(out_shape[-1]), str(self.path))
        self._classes = int(out_shape[-1])
        self._context = engine.create_execution_context()
        itemsize_in = self._in_dtype.itemsize * int(np.prod(self._chw))
        self._in_ptr = self._cuda.alloc(self.max_batch * itemsize_in)
        self._out_ptr = self._cuda.alloc(self.max_batch * self._classes * self._out_dtype.itemsize)
        self._context.set_tensor_address(self.input_name, self._in_ptr)
        self._context.set_tensor_address(self.output_name, self._out_ptr)

    # -- run --------------------------------------------------------------------------------

    def predict(self, batch: np.ndarray) -> np.ndarray:
        """float32 NCHW in [0, 1] -> float32 logits (N, classes). Batches larger than the engine's
        max batch run in chunks; a batch smaller than its min batch is padded."""
        if self._context is None:
            raise EdgeclassError("this TensorRT backend is closed")
        x = np.asarray(batch)
        if x.ndim != 4 or tuple(x.shape[1:]) != self._chw:
            raise EdgeclassError(f"input batch has shape {tuple(x.shape)}, the engine takes N x {' x '.join(map(str, self._chw))}")
        out = []
        for i in range(0, len(x), self.max_batch or len(x)):
            out.append(self._run_chunk(x[i : i + (self.max_batch or len(x))]))
        return np.concatenate(out, axis=0) if out else np.zeros((0, self._classes), np.float32)

    def _run_chunk(self, x: np.ndarray) -> np.ndarray:
        n = len(x)
        if n < self.min_batch:
            x = np.concatenate([x, np.zeros((self.min_batch - n,) + x.shape[1:], x.dtype)])
        host_in = np.ascontiguousarray(x, dtype=self._in_dtype)
        m = len(host_in)
        if not self._context.set_input_shape(self.input_name, tuple(host_in.shape)):
            raise EdgeclassError(f"the engine rejected input shape {tuple(host_in.shape)}")
        host_out = np.empty((m, self._classes), dtype=self._out_dtype)
        self._cuda.upload(self._in_ptr, host_in)
        if not self._context.execute_async_v3(self._cuda.stream_handle):
            raise EdgeclassError("TensorRT inference failed (see the TensorRT messages above)")
        self._cuda.download(host_out, self._out_ptr)
        self._cuda.synchronize()
        return host_out[:n].astype(np.float32, copy=False)

    def describe(self) -> str:
        dla = (self.sidecar.get("build") or {}).get("dla_core")
        where = f"DLA core {dla} of {self.gpu.name}" if dla is not None else f"{self.gpu.name} ({self.gpu.sm})"
        return f"TensorRT {self.version} {self.precision} on {where}"

    def close(self) -> None:
        self._context = None
        self._engine = None
        if self._cuda is not None:
            self._cuda.close()
            self._cuda = None

    def __enter__(self) -> "TensorRTBackend":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def _profile_shape(engine: Any, name: str):
    """(min, opt, max) of profile 0: the name-based call where present, else the 8.x form."""
    if hasattr(engine, "get_tensor_profile_shape"):
        return engine.get_tensor_profile_shape(name, 0)
    return engine.get_profile_shape(0, name)  # TensorRT 8.5/8.6 bindings without the name-based call


def _precision_from_name(path: Path) -> str:
    parts = path.name.split(".")
    return parts[1] if len(parts) >= 3 and parts[1] in decide.PRECISIONS else "fp16"
