"""ONNX Runtime backend (``.onnx``): TensorRT > CUDA > CPU execution provider, CPU only for the
U8S8 ``int8-cpu`` model. onnxruntime is imported when a backend is created."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np

from ...artifacts.onnx import card_from_metadata
from ...errors import EdgeclassError
from ...spec import ModelCard
from ...artifacts.formats import require_file
from .base import Backend

# ONNX Runtime execution providers in order of preference
ORT_PROVIDER_PREFERENCE = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")


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
        require_file(p)
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
        self.card = card_from_metadata(self.session.get_modelmeta().custom_metadata_map or {}, str(p))
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
