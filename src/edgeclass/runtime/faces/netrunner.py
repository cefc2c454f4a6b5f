"""Run a small ONNX network with ONNX Runtime or OpenCV's dnn module: float32 NCHW in, a list of
arrays out. A file that is missing, unreadable or not an ONNX model is a one-line ``EdgeclassError``."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import List, Optional, Sequence

import numpy as np

from ...errors import EdgeclassError

ENGINES = ("onnxruntime", "opencv")


class NetRunner:
    """``runner(batch) -> [outputs]`` for one ONNX file. ``engine``: ``onnxruntime`` (default) or
    ``opencv`` (``cv2.dnn``); ``threads``: ONNX Runtime intra-op threads (None: its default);
    ``outputs``: the output names in the order wanted (None: the model's own order)."""

    def __init__(self, path: Path, engine: str = "onnxruntime", threads: Optional[int] = None, what: str = "model",
                 outputs: Optional[Sequence[str]] = None):
        if engine not in ENGINES:
            raise EdgeclassError(f"unknown inference engine {engine!r} for {what} (choose from {', '.join(ENGINES)})")
        self.path = Path(path)
        self.engine = engine
        self.outputs = list(outputs) if outputs else None
        if not self.path.is_file():
            raise EdgeclassError(f"{what} file {self.path} does not exist")
        if os.path.getsize(self.path) == 0:
            raise EdgeclassError(f"{what} file {self.path} is empty")
        self._run = self._open_ort(threads, what) if engine == "onnxruntime" else self._open_cv2(what)

    def _open_ort(self, threads: Optional[int], what: str):
        try:
            import onnxruntime as ort
        except ImportError:
            raise EdgeclassError(f"{what} needs onnxruntime (pip install onnxruntime) or engine='opencv'") from None
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        if threads:
            opts.intra_op_num_threads = int(threads)
        try:
            sess = ort.InferenceSession(str(self.path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001 - onnxruntime raises its own exception types
            raise EdgeclassError(f"{what} file {self.path} is not a readable ONNX model ({reason(e)})") from None
        self.metadata = dict(sess.get_modelmeta().custom_metadata_map)
        name = sess.get_inputs()[0].name
        outputs = self.outputs or [o.name for o in sess.get_outputs()]
        return lambda batch: sess.run(outputs, {name: batch})

    def _open_cv2(self, what: str):
        import cv2

        try:
            net = cv2.dnn.readNetFromONNX(str(self.path))
        except cv2.error as e:
            raise EdgeclassError(f"{what} file {self.path} is not a readable ONNX model ({reason(e)})") from None
        if net.empty():
            raise EdgeclassError(f"{what} file {self.path} is not a readable ONNX model")
        self.metadata = {}
        names = self.outputs or list(net.getUnconnectedOutLayersNames())

        def run(batch: np.ndarray) -> List[np.ndarray]:
            net.setInput(batch)
            return list(net.forward(names))

        return run

    def __call__(self, batch: np.ndarray) -> List[np.ndarray]:
        return self._run(np.ascontiguousarray(batch, dtype=np.float32))


def reason(e: BaseException, limit: int = 120) -> str:
    """The useful part of an ONNX Runtime / OpenCV exception message, on one short line."""
    text = " ".join(ln.strip() for ln in str(e).strip().splitlines() if ln.strip())
    found = re.search(r"error: \(-?\d+:[^)]*\)\s*(.*)", text)
    if found:
        text = found.group(1)
    text = re.sub(r"^\[ONNXRuntimeError\] : \d+ : \w+ : ", "", text)
    return (text or type(e).__name__)[:limit]
