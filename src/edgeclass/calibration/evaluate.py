"""Logits from an ONNX model on the CPU, and the INT8-vs-fp32 accuracy comparison."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, List

import numpy as np

from ..metrics import classification_report, logit_agreement


def run_batched(fn: Callable[[np.ndarray], np.ndarray], images: np.ndarray, batch: int, static: bool) -> np.ndarray:
    """Logits for ``images`` in chunks of ``batch``; a static-batch model gets its last chunk padded."""
    outs = []
    for i in range(0, len(images), batch):
        chunk = images[i : i + batch]
        n = len(chunk)
        if static and n < batch:
            chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch - n, axis=0)])
        outs.append(np.asarray(fn(np.ascontiguousarray(chunk)), dtype=np.float32)[:n])
    return np.concatenate(outs) if outs else np.zeros((0, 0), np.float32)


def onnx_logits(path: str | os.PathLike, images: np.ndarray, batch: int = 32) -> np.ndarray:
    """Logits from ONNX Runtime's CPU provider (a fixed batch size is read from the model)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    fixed = inp.shape[0] if isinstance(inp.shape[0], int) else None
    return run_batched(lambda x: sess.run(None, {inp.name: x})[0], images, fixed or batch, fixed is not None)


@dataclass
class Comparison:
    """One quantized model against the fp32 model on the same labelled images."""

    top1: float
    drop_points: float  # fp32 top-1 minus this top-1, in percentage points
    agreement: float  # fraction of images where both predict the same class
    per_class_delta: Dict[str, float] = field(default_factory=dict)  # recall change, points

    def to_dict(self) -> dict:
        return asdict(self)


def compare_to_fp32(fp32_logits: np.ndarray, logits: np.ndarray, labels: np.ndarray, classes: List[str]) -> Comparison:
    ref = classification_report(fp32_logits, labels, classes)
    got = classification_report(logits, labels, classes)
    deltas = {
        a.name: round(100.0 * (b.recall - a.recall), 3) for a, b in zip(ref.per_class, got.per_class) if a.support > 0
    }
    agree = logit_agreement(fp32_logits, logits)["top1_agreement"]
    return Comparison(got.top1, 100.0 * (ref.top1 - got.top1), agree, deltas)


def relative_logit_error(ref: np.ndarray, got: np.ndarray) -> float:
    """sum (got - ref)^2 / sum ref^2: how much a quantized layer perturbs the output."""
    denom = float(np.sum(ref.astype(np.float64) ** 2))
    return float(np.sum((got.astype(np.float64) - ref) ** 2)) / max(denom, 1e-12)
