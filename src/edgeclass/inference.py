"""Chunked batch inference: the one chunk-and-pad loop behind ``Backend.predict`` (runtime) and the
offline logit checks of export parity, INT8 calibration and jetson-check (``onnx_logits``).

Plain numpy; ``onnx_logits`` imports onnxruntime when called.
"""

from __future__ import annotations

import os
from typing import Callable, Optional

import numpy as np


def predict_in_chunks(
    run: Callable[[np.ndarray], np.ndarray], images: np.ndarray, max_batch: Optional[int], min_batch: int = 1
) -> np.ndarray:
    """float32 logits of ``run`` over ``images`` in chunks of at most ``max_batch`` (None: one chunk);
    a chunk smaller than ``min_batch`` (a model with a fixed or minimum batch) is padded with zero
    images, whose rows are dropped again."""
    step = max_batch or max(len(images), 1)
    outs = []
    for i in range(0, len(images), step):
        chunk = images[i : i + step]
        n = len(chunk)
        if n < min_batch:
            chunk = np.concatenate([chunk, np.zeros((min_batch - n,) + chunk.shape[1:], chunk.dtype)])
        outs.append(np.asarray(run(np.ascontiguousarray(chunk)), dtype=np.float32)[:n])
    if not outs:
        return np.zeros((0, 0), np.float32)
    return outs[0] if len(outs) == 1 else np.concatenate(outs, axis=0)


def onnx_logits(path: str | os.PathLike, images: np.ndarray, batch: int = 32) -> np.ndarray:
    """Logits from ONNX Runtime's CPU provider (a fixed batch size is read from the model)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    fixed = inp.shape[0] if isinstance(inp.shape[0], int) else None
    return predict_in_chunks(lambda x: sess.run(None, {inp.name: x})[0], images, fixed or batch, fixed or 1)
