"""TorchScript (``.ts``) and checkpoint (``.pt``) backends; torch is imported inside the
constructors (a Jetson may have only TensorRT), edgeclass.train only for checkpoints."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Optional

import numpy as np

from ...artifacts import torchscript
from ...errors import EdgeclassError
from ...artifacts.formats import require_file
from .base import Backend


def _torch_device(torch: Any, device: Optional[str]) -> Any:
    if device in (None, "", "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device if not str(device).isdigit() else f"cuda:{device}")
    except RuntimeError as e:
        raise EdgeclassError(f"unknown device {device!r}: {e}") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise EdgeclassError(f"device {device} was asked for but CUDA is not available here")
    return dev


def _import_torch(kind: str) -> Any:
    try:
        import torch
    except ImportError:
        raise EdgeclassError(f"{kind} models need PyTorch; on a device without it, use the .onnx or .engine artifact") from None
    return torch


class _TorchBackend(Backend):
    """Shared by TorchScript and checkpoint models: numpy in, numpy out, no autograd."""

    def _setup(self, torch: Any, model: Any, device: Any, half: bool) -> None:
        self._torch = torch
        self.device = device
        self.half = half
        self.model = model.half() if half else model.float()
        self._torch_version = torch.__version__

    def _run(self, batch: np.ndarray) -> np.ndarray:
        torch = self._torch
        with torch.inference_mode():
            x = torch.from_numpy(batch).to(self.device, non_blocking=True)
            if self.half:
                x = x.half()
            y = self.model(x)
            return y.float().cpu().numpy()

    def describe(self) -> str:
        dtype = "fp16" if self.half else "fp32"
        return f"{self.name} {self._torch_version} {self.device} {dtype}"

    def close(self) -> None:
        self.model = None


class TorchScriptBackend(_TorchBackend):
    name = "torchscript"

    def __init__(self, path: str | os.PathLike, device: Optional[str] = None, half: Optional[bool] = None, **_: Any):
        torch = _import_torch("TorchScript")
        p = Path(path)
        require_file(p)
        self.path = str(p)
        dev = _torch_device(torch, device)
        model, self.card = torchscript.load(p, device=dev)
        self._setup(torch, model, dev, dev.type == "cuda" if half is None else bool(half))
        self.verify()


class CheckpointBackend(_TorchBackend):
    name = "pytorch"

    def __init__(self, path: str | os.PathLike, device: Optional[str] = None, half: bool = False, **_: Any):
        torch = _import_torch("Checkpoint (.pt)")
        from ...train.checkpoint import load_model

        p = Path(path)
        require_file(p)
        self.path = str(p)
        dev = _torch_device(torch, device)
        model, self.card = load_model(p, device=dev)
        self._setup(torch, model, dev, bool(half))
        self.verify()
