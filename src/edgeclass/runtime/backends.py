"""Inference backends behind one small protocol, chosen from the model file's suffix.

Like Ultralytics' ``AutoBackend``, ``load_backend(path)`` picks the class from the suffix:

========== =================================================== ==============================
suffix     backend                                             library (imported lazily)
========== =================================================== ==============================
``.engine`` ``tensorrt_backend.TensorRTBackend``                tensorrt (+ sidecar card JSON)
``.onnx``   ``OnnxRuntimeBackend`` (TensorRT > CUDA > CPU EP)    onnxruntime
``.ts``     ``TorchScriptBackend`` (fp16 on CUDA)                torch
``.pt``     ``CheckpointBackend``                                torch (+ edgeclass.train)
========== =================================================== ==============================

Every backend takes float32 NCHW RGB in [0, 1] and returns float32 logits (N, classes), whatever
batch size the model was built for: ``Backend.predict`` splits a batch into chunks of ``max_batch``
and pads a chunk when the model has a fixed batch. The model card always comes from inside the
artifact, and a model whose output width disagrees with its card is refused at load time.

This module imports neither torch nor onnxruntime at import time (a Jetson may have only TensorRT).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ..errors import EdgeclassError
from ..spec import TORCHSCRIPT_EXTRA_FILE, ModelCard, card_from_onnx_metadata, check_class_count

SUFFIXES = (".engine", ".onnx", ".ts", ".pt")

# ONNX Runtime execution providers in order of preference
ORT_PROVIDER_PREFERENCE = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


class Backend:
    """What the runtime needs from a model: a card, a batch limit and ``predict``.

    Subclasses set ``name``, ``card``, ``max_batch`` (None = any batch size), ``fixed_batch``
    (True when the model only accepts exactly ``max_batch`` images) and implement ``_run`` for one
    chunk that fits the model. ``predict`` handles any batch size on top of it.
    """

    name: str = "backend"
    card: ModelCard
    max_batch: Optional[int] = None
    fixed_batch: bool = False
    path: str = ""

    # -- to implement ---------------------------------------------------------------------------
    def _run(self, batch: np.ndarray) -> np.ndarray:
        """One chunk (N <= max_batch, or exactly max_batch when fixed_batch) -> logits (N, C)."""
        raise NotImplementedError

    def describe(self) -> str:
        return self.name

    def close(self) -> None:
        """Release the session / engine / device memory. Safe to call twice."""

    # -- shared -----------------------------------------------------------------------------------
    def predict(self, batch: np.ndarray) -> np.ndarray:
        """float32 NCHW [0, 1] -> float32 logits (N, classes), for any N (0 included)."""
        batch = self._check_batch(batch)
        n = batch.shape[0]
        if n == 0:
            return np.zeros((0, self.card.num_classes), np.float32)
        step = self.max_batch or n
        outs = [self._run_padded(batch[i : i + step]) for i in range(0, n, step)]
        out = outs[0] if len(outs) == 1 else np.concatenate(outs, axis=0)
        return np.ascontiguousarray(out, dtype=np.float32)

    def _run_padded(self, chunk: np.ndarray) -> np.ndarray:
        n = chunk.shape[0]
        if self.fixed_batch and self.max_batch and n < self.max_batch:
            pad = np.zeros((self.max_batch - n,) + chunk.shape[1:], np.float32)
            return np.asarray(self._run(np.concatenate([chunk, pad], axis=0)))[:n]
        return np.asarray(self._run(chunk))

    def _check_batch(self, batch: np.ndarray) -> np.ndarray:
        expected = self.card.input_shape
        if not isinstance(batch, np.ndarray) or batch.ndim != 4 or tuple(batch.shape[1:]) != expected:
            shape = tuple(batch.shape) if isinstance(batch, np.ndarray) else type(batch).__name__
            raise EdgeclassError(f"{self.path or self.name}: expected input (N, {', '.join(map(str, expected))}), got {shape}")
        if batch.dtype != np.float32 or not batch.flags.c_contiguous:
            batch = np.ascontiguousarray(batch, dtype=np.float32)
        return batch

    def verify(self) -> "Backend":
        """Run one blank image: checks the output width against the card and warms the model up."""
        s = self.card.preprocess.imgsz
        out = self.predict(np.zeros((1, 3, s, s), np.float32))
        if out.ndim != 2:
            raise EdgeclassError(f"{self.path}: the model returns shape {tuple(out.shape)}, expected (batch, classes)")
        check_class_count(self.card, int(out.shape[1]), self.path)
        return self

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()} {self.path}>"


def _require_file(path: Path) -> None:
    if path.is_dir():
        raise EdgeclassError(f"{path} is a folder; give a model file (.engine, .onnx, .ts or .pt), e.g. {path}/weights/model.onnx")
    if not path.is_file():
        raise EdgeclassError(f"model file {path} does not exist")


def _no_card(path: Path, where: str) -> EdgeclassError:
    return EdgeclassError(f"{path} has no edgeclass model card ({where}); export it with `edgeclass export`")


# ------------------------------------------------------------------------------------------------
# ONNX Runtime
# ------------------------------------------------------------------------------------------------


def choose_ort_providers(
    available: Sequence[str], card: Optional[ModelCard], path: str, requested: Optional[Sequence[str]] = None
) -> List[str]:
    """TensorRT > CUDA > CPU among those installed; CPU only for a CPU-quantized (int8-cpu) model,
    whose U8S8 operators only the CPU provider runs fast."""
    if requested:
        missing = [p for p in requested if p not in available]
        if missing:
            raise EdgeclassError(f"ONNX Runtime provider(s) not available: {', '.join(missing)} (available: {', '.join(available)})")
        return list(requested)
    if (card is not None and card.precision == "int8-cpu") or Path(path).name.endswith(".int8-cpu.onnx"):
        return ["CPUExecutionProvider"]
    chosen = [p for p in ORT_PROVIDER_PREFERENCE if p in available]
    return chosen or list(available)


def _dim(d: Any) -> Optional[int]:
    return d if isinstance(d, int) and d > 0 else None


class OnnxRuntimeBackend(Backend):
    name = "onnxruntime"

    def __init__(
        self,
        path: str | os.PathLike,
        providers: Optional[Sequence[str]] = None,
        threads: int = 0,
        session_config: Optional[Dict[str, str]] = None,
        **_: Any,
    ):
        """``threads``: intra-op threads (0 = ONNX Runtime's default, one per core); ``session_config``:
        extra session config entries, e.g. ``{"session.intra_op.allow_spinning": "0"}``."""
        try:
            import onnxruntime as ort
        except ImportError:
            raise EdgeclassError("ONNX models need onnxruntime: pip install onnxruntime (or onnxruntime-gpu)") from None
        p = Path(path)
        _require_file(p)
        self.path = str(p)
        self._ort_version = ort.__version__
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if threads:
            opts.intra_op_num_threads = int(threads)
        opts.log_severity_level = 3
        for key, value in (session_config or {}).items():
            opts.add_session_config_entry(str(key), str(value))
        avail = ort.get_available_providers()
        self.session = self._session(ort, p, opts, choose_ort_providers(avail, None, self.path, providers))
        self.card = card_from_onnx_metadata(self.session.get_modelmeta().custom_metadata_map or {}, str(p))
        chosen = choose_ort_providers(avail, self.card, self.path, providers)
        if chosen != self.session.get_providers()[: len(chosen)]:
            self.session = self._session(ort, p, opts, chosen)  # e.g. an int8-cpu card in a renamed file
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.output_name = self.session.get_outputs()[0].name
        self.input_dtype = np.float16 if inp.type == "tensor(float16)" else np.float32
        fixed = _dim(inp.shape[0]) if inp.shape else None
        self.max_batch = fixed
        self.fixed_batch = fixed is not None
        self.providers = self.session.get_providers()
        self.verify()

    @staticmethod
    def _session(ort: Any, p: Path, opts: Any, providers: List[str]) -> Any:
        try:
            return ort.InferenceSession(str(p), sess_options=opts, providers=providers)
        except Exception as e:  # onnxruntime raises its own exception types
            raise EdgeclassError(f"{p} is not a loadable ONNX model: {str(e).splitlines()[0][:200]}") from None

    def _run(self, batch: np.ndarray) -> np.ndarray:
        x = batch if self.input_dtype == np.float32 else batch.astype(self.input_dtype)
        out = self.session.run([self.output_name], {self.input_name: x})[0]
        return out.astype(np.float32, copy=False)

    def describe(self) -> str:
        return f"onnxruntime {self._ort_version} {self.providers[0] if self.providers else '?'}"

    def close(self) -> None:
        self.session = None


# ------------------------------------------------------------------------------------------------
# TorchScript and checkpoints (torch imported inside the constructors)
# ------------------------------------------------------------------------------------------------


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
        _require_file(p)
        self.path = str(p)
        dev = _torch_device(torch, device)
        extra = {TORCHSCRIPT_EXTRA_FILE: ""}
        try:
            with warnings.catch_warnings():  # torch >= 2.9 marks TorchScript deprecated; it still loads
                warnings.simplefilter("ignore", FutureWarning)
                model = torch.jit.load(str(p), map_location=dev, _extra_files=extra)
        except Exception as e:
            raise EdgeclassError(f"{p} is not a loadable TorchScript model: {str(e).splitlines()[0][:200]}") from None
        if not extra[TORCHSCRIPT_EXTRA_FILE]:
            raise _no_card(p, f"TorchScript extra file {TORCHSCRIPT_EXTRA_FILE!r} is missing")
        self.card = ModelCard.from_json(extra[TORCHSCRIPT_EXTRA_FILE])
        self._setup(torch, model.eval(), dev, dev.type == "cuda" if half is None else bool(half))
        self.verify()


class CheckpointBackend(_TorchBackend):
    name = "pytorch"

    def __init__(self, path: str | os.PathLike, device: Optional[str] = None, half: bool = False, **_: Any):
        torch = _import_torch("Checkpoint (.pt)")
        from ..train.checkpoint import load_model

        p = Path(path)
        _require_file(p)
        self.path = str(p)
        dev = _torch_device(torch, device)
        model, self.card = load_model(p, device=dev)
        self._setup(torch, model, dev, bool(half))
        self.verify()


# ------------------------------------------------------------------------------------------------
# the factory
# ------------------------------------------------------------------------------------------------


def backend_kind(path: str | os.PathLike) -> str:
    """The suffix that decides the backend (``.engine``, ``.onnx``, ``.ts``, ``.pt``)."""
    suffix = Path(path).suffix.lower()
    if suffix not in SUFFIXES:
        raise EdgeclassError(
            f"{path}: unknown model type {suffix or '(no suffix)'!r}; give a .engine (TensorRT), .onnx, .ts or .pt file"
        )
    return suffix


def load_backend(path: str | os.PathLike, **opts: Any) -> Backend:
    """The backend for ``path``, chosen from its suffix, with the card read from inside the artifact.

    Options are passed to the backend's constructor: ``providers``/``threads`` (ONNX Runtime),
    ``device``/``half`` (TorchScript, checkpoint), ``device``/``rebuild_stale`` (TensorRT); options a
    backend does not know are ignored, so callers can pass one set for every kind.
    """
    suffix = backend_kind(path)
    if suffix == ".engine":
        _require_file(Path(path))
        try:
            from .tensorrt_backend import TensorRTBackend
        except ImportError as e:
            raise EdgeclassError(f"{path}: TensorRT engines need the tensorrt Python package ({e}); use the .onnx model instead") from None
        trt_opts = {k: v for k, v in opts.items() if k in ("device", "rebuild_stale")}
        if trt_opts.get("device") in (None, "", "auto", "cuda"):
            trt_opts["device"] = 0
        elif isinstance(trt_opts.get("device"), str):
            index = str(trt_opts["device"]).rsplit(":", 1)[-1]
            if not index.isdigit():
                raise EdgeclassError(f"TensorRT engines run on a CUDA device; {trt_opts['device']!r} is not one (use 0, 1, cuda:0)")
            trt_opts["device"] = int(index)
        return TensorRTBackend(path, **trt_opts)
    if suffix == ".onnx":
        return OnnxRuntimeBackend(path, **opts)
    if suffix == ".ts":
        return TorchScriptBackend(path, **opts)
    return CheckpointBackend(path, **opts)
