"""CUDA device memory, a stream and the GPU's name, for the TensorRT builder (calibrator buffers)
and the runtime backend: cuda-python (``cuda.bindings.runtime``, or the older ``cuda.cudart``) when
it is importable, else PyTorch CUDA tensors, so a Jetson without PyTorch can run engines.

Nothing is imported at module level. ``open_cuda`` is looked up on this module by its callers, so
one stand-in (tests) replaces it everywhere.
"""

from __future__ import annotations

from typing import Any, Dict, List

import numpy as np

from ..errors import EdgeclassError
from .sidecar import GpuInfo

NO_CUDA_MESSAGE = (
    "TensorRT needs CUDA device memory from cuda-python or PyTorch and neither is usable here: "
    "`pip install cuda-python` (match your CUDA version, e.g. 'cuda-python>=12.6,<12.7' on JetPack 6.1/6.2) "
    "or install NVIDIA's PyTorch wheel for your JetPack"
)


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

    def gpu(self) -> GpuInfo:
        props = self._check(self.rt.cudaGetDeviceProperties(self.device), "cudaGetDeviceProperties")
        name = props.name.split(b"\0", 1)[0].decode() if isinstance(props.name, bytes) else str(props.name)
        return GpuInfo(name=name, compute_capability=f"{props.major}.{props.minor}")

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

    def gpu(self) -> GpuInfo:
        major, minor = self.torch.cuda.get_device_capability(self.device)
        return GpuInfo(name=self.torch.cuda.get_device_name(self.device), compute_capability=f"{major}.{minor}")

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


def gpu_of(device: int = 0) -> GpuInfo:
    """The name and compute capability of CUDA device ``device`` (opened and closed again)."""
    cuda = open_cuda(device)
    try:
        return cuda.gpu()
    finally:
        cuda.close()
