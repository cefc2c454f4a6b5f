"""Inference backends behind one small protocol (``Backend``), chosen from the model file's suffix
through the format table (``edgeclass.artifacts.formats``):

========== ======================================= ==============================
suffix     backend                                 library (imported lazily)
========== ======================================= ==============================
``.engine`` ``tensorrt.TensorRTBackend``            tensorrt (+ sidecar card JSON)
``.onnx``   ``ort.OnnxRuntimeBackend``              onnxruntime (TensorRT > CUDA > CPU EP)
``.ts``     ``pytorch.TorchScriptBackend``          torch (fp16 on CUDA)
``.pt``     ``pytorch.CheckpointBackend``           torch (+ edgeclass.train)
========== ======================================= ==============================

Every backend takes float32 NCHW RGB in [0, 1] and returns float32 logits (N, classes), whatever
batch size the model was built for: ``Backend.predict`` splits a batch into chunks of ``max_batch``
and pads a chunk when the model has a fixed or minimum batch. The model card always comes from
inside the artifact, and a model whose output width disagrees with its card is refused at load time.

This package imports neither torch nor onnxruntime nor tensorrt at import time (a Jetson may have
only TensorRT).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Dict

from ...artifacts import formats
from ...errors import EdgeclassError
from .base import Backend
from .ort import ORT_PROVIDER_PREFERENCE, OnnxRuntimeBackend, choose_ort_providers
from .pytorch import CheckpointBackend, TorchScriptBackend

__all__ = [
    "Backend", "CheckpointBackend", "ORT_PROVIDER_PREFERENCE", "OnnxRuntimeBackend", "TorchScriptBackend",
    "choose_ort_providers", "load_backend",
]


def _tensorrt_options(opts: Dict[str, Any]) -> Dict[str, Any]:
    """The options a TensorRT backend takes (``device`` as a CUDA index, ``rebuild_stale``)."""
    trt_opts = {k: v for k, v in opts.items() if k in ("device", "rebuild_stale")}
    if trt_opts.get("device") in (None, "", "auto", "cuda"):
        trt_opts["device"] = 0
    elif isinstance(trt_opts.get("device"), str):
        index = str(trt_opts["device"]).rsplit(":", 1)[-1]
        if not index.isdigit():
            raise EdgeclassError(f"TensorRT engines run on a CUDA device; {trt_opts['device']!r} is not one (use 0, 1, cuda:0)")
        trt_opts["device"] = int(index)
    return trt_opts


def _tensorrt(path: str | os.PathLike, **opts: Any) -> Backend:
    formats.require_file(Path(path))
    from .tensorrt import TensorRTBackend

    return TensorRTBackend(path, **_tensorrt_options(opts))


# Backend.name (the format table's ``backend`` column) -> constructor
BACKENDS: Dict[str, Callable[..., Backend]] = {
    "tensorrt": _tensorrt,
    "onnxruntime": OnnxRuntimeBackend,
    "torchscript": TorchScriptBackend,
    "pytorch": CheckpointBackend,
}


def load_backend(path: str | os.PathLike, **opts: Any) -> Backend:
    """The backend for ``path``, chosen from its suffix, with the card read from inside the artifact.

    Options are passed to the backend's constructor: ``providers``/``threads`` (ONNX Runtime),
    ``device``/``half`` (TorchScript, checkpoint), ``device``/``rebuild_stale`` (TensorRT); options a
    backend does not know are ignored, so callers can pass one set for every kind.
    """
    return BACKENDS[formats.by_suffix(path).backend](path, **opts)
