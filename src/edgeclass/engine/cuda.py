"""CUDA device memory, pinned host buffers, a stream and the GPU's name, for the TensorRT builder
(calibrator buffers) and the runtime backend: cuda-python (``cuda.bindings.runtime``, or the older
``cuda.cudart``) when it is importable and not newer than the driver, else PyTorch CUDA tensors, so a
Jetson without PyTorch can run engines (``cuda_choice.choose_cuda_backend`` decides).

Both make the chosen device current (``cudaSetDevice`` / ``torch.cuda.set_device``) when opened and
on ``make_current()``: TensorRT binds an engine to the current device. Host buffers are page-locked
(``cudaMallocHost`` / ``pin_memory=True``) so the copies are real asynchronous DMA ("Page-Locked Host
Memory", CUDA C++ programming guide).

Nothing is imported at module level. ``open_cuda`` is looked up on this module by its callers, so
one stand-in (tests) replaces it everywhere.
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any, Callable, Dict, List, Optional

import numpy as np

from ..errors import EdgeclassError
from .cuda_choice import choose_cuda_backend, cuda_major
from .identity import GpuInfo


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


def _version_of(result: Any) -> Optional[int]:
    """(cudaError_t, int) from cudaDriverGetVersion / cudaRuntimeGetVersion -> the int (None on error)."""
    try:
        err, value = result
    except (TypeError, ValueError):
        return None
    return int(value) if int(err) == 0 else None


def cudart_versions(cudart: Any) -> tuple:
    """(runtime version the bindings target, driver version) as CUDA integers (12060), None unknown;
    the driver's is 0 where no driver is installed."""
    return _version_of(cudart.cudaRuntimeGetVersion()), _version_of(cudart.cudaDriverGetVersion())


def _bindings_major() -> Optional[int]:
    """The major of the installed cuda-bindings / cuda-python package (its CUDA major)."""
    from importlib import metadata

    for dist in ("cuda-bindings", "cuda-python"):
        try:
            return int(metadata.version(dist).split(".", 1)[0])
        except (metadata.PackageNotFoundError, ValueError):
            continue
    return None


class CudaPython:
    """Device memory, pinned host memory and a stream through the CUDA runtime API of cuda-python."""

    kind = "cuda-python"

    def __init__(self, cudart: Any, device: int = 0):
        self.rt = cudart
        self.device = device
        self.stream = None
        self._ptrs: List[int] = []
        self._host: List[int] = []
        self.make_current()
        self.stream = self._check(cudart.cudaStreamCreate(), "cudaStreamCreate")

    def _check(self, result: Any, what: str) -> Any:
        err, rest = (result[0], result[1:]) if isinstance(result, tuple) else (result, ())
        if err != self.rt.cudaError_t.cudaSuccess:
            raise EdgeclassError(f"CUDA {what} failed: {err}")
        return rest[0] if len(rest) == 1 else (rest or None)

    def make_current(self) -> None:
        self._check(self.rt.cudaSetDevice(self.device), "cudaSetDevice")

    def gpu(self) -> GpuInfo:
        props = self._check(self.rt.cudaGetDeviceProperties(self.device), "cudaGetDeviceProperties")
        name = props.name.split(b"\0", 1)[0].decode() if isinstance(props.name, bytes) else str(props.name)
        return GpuInfo(name=name, compute_capability=f"{props.major}.{props.minor}")

    def versions(self) -> str:
        runtime, driver = cudart_versions(self.rt)
        from .cuda_choice import cuda_text

        return f"CUDA runtime {cuda_text(runtime)} (cuda-python), driver {cuda_text(driver)}"

    def alloc(self, nbytes: int) -> int:
        ptr = int(self._check(self.rt.cudaMalloc(max(int(nbytes), 1)), "cudaMalloc"))
        self._ptrs.append(ptr)
        return ptr

    def host_buffer(self, shape, dtype) -> np.ndarray:
        """A page-locked host array (cudaMallocHost), freed by ``close``."""
        dtype = np.dtype(dtype)
        nbytes = max(int(np.prod(shape)) * dtype.itemsize, 1)
        ptr = int(self._check(self.rt.cudaMallocHost(nbytes), "cudaMallocHost"))
        self._host.append(ptr)
        raw = (ctypes.c_byte * nbytes).from_address(ptr)
        return np.frombuffer(raw, dtype=np.uint8, count=int(np.prod(shape)) * dtype.itemsize).view(dtype).reshape(shape)

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
        for p in self._host:
            self.rt.cudaFreeHost(p)
        self._ptrs, self._host = [], []
        if self.stream is not None:
            self.rt.cudaStreamDestroy(self.stream)
            self.stream = None


class TorchCuda:
    """The same through PyTorch CUDA tensors (for desktops and JetPack images with NVIDIA's torch)."""

    kind = "torch"

    def __init__(self, torch: Any, device: int = 0):
        self.torch = torch
        self.index = device
        self.device = torch.device("cuda", device)
        self.make_current()
        self.stream = torch.cuda.Stream(device=self.device)
        self._tensors: Dict[int, Any] = {}
        self._host: List[Any] = []

    def make_current(self) -> None:
        self.torch.cuda.set_device(self.index)

    def gpu(self) -> GpuInfo:
        major, minor = self.torch.cuda.get_device_capability(self.device)
        return GpuInfo(name=self.torch.cuda.get_device_name(self.device), compute_capability=f"{major}.{minor}")

    def versions(self) -> str:
        return f"CUDA {self.torch.version.cuda} (PyTorch {self.torch.__version__})"

    def alloc(self, nbytes: int) -> int:
        t = self.torch.empty(max(int(nbytes), 1), dtype=self.torch.uint8, device=self.device)
        self._tensors[t.data_ptr()] = t
        return t.data_ptr()

    def host_buffer(self, shape, dtype) -> np.ndarray:
        """A page-locked host array (``torch.empty(..., pin_memory=True)``), kept until ``close``."""
        dtype = np.dtype(dtype)
        t = self.torch.empty(max(int(np.prod(shape)) * dtype.itemsize, 1), dtype=self.torch.uint8, pin_memory=True)
        self._host.append(t)
        return t.numpy()[: int(np.prod(shape)) * dtype.itemsize].view(dtype).reshape(shape)

    def upload(self, ptr: int, host: np.ndarray) -> None:
        dst = self._tensors[ptr][: host.nbytes]
        with self.torch.cuda.stream(self.stream):
            dst.copy_(self.torch.from_numpy(host.reshape(-1).view(np.uint8)), non_blocking=True)

    def download(self, host: np.ndarray, ptr: int) -> None:
        src = self._tensors[ptr][: host.nbytes]
        with self.torch.cuda.stream(self.stream):
            self.torch.from_numpy(host.reshape(-1).view(np.uint8)).copy_(src, non_blocking=True)

    @property
    def stream_handle(self) -> int:
        return int(self.stream.cuda_stream)

    def synchronize(self) -> None:
        self.stream.synchronize()

    def close(self) -> None:
        self._tensors, self._host = {}, []


def _stderr(message: str) -> None:
    print(f"note: {message}", file=sys.stderr, flush=True)


def open_cuda(device: int = 0, note: Callable[[str], None] = _stderr):
    """cuda-python when it is importable and not newer than the driver, else PyTorch with CUDA (with a
    one-line ``note`` saying why), else a one-line EdgeclassError naming what to install. Device
    ``device`` is made current either way."""
    cudart = _import_cudart()
    runtime, driver = cudart_versions(cudart) if cudart is not None else (None, None)
    py_major = (cuda_major(runtime) or _bindings_major()) if cudart is not None else None
    try:
        kind, _ = choose_cuda_backend(py_major, driver, torch_cuda=False)
    except EdgeclassError:
        kind = "torch"
    if kind == "cuda-python":
        try:
            return CudaPython(cudart, device)
        except EdgeclassError as e:
            torch = _torch_cuda()
            if torch is None:
                raise
            note(f"cuda-python failed ({e}); using PyTorch's CUDA")
            return TorchCuda(torch, device)
    torch = _torch_cuda()
    _kind, message = choose_cuda_backend(py_major, driver, torch_cuda=torch is not None)  # raises without torch
    if message:
        note(message)
    return TorchCuda(torch, device)


def gpu_of(device: int = 0) -> GpuInfo:
    """The name and compute capability of CUDA device ``device`` (opened and closed again)."""
    cuda = open_cuda(device)
    try:
        return cuda.gpu()
    finally:
        cuda.close()
