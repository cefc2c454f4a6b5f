"""The INT8-vs-fp32 accuracy comparison (logits come from ``edgeclass.inference.onnx_logits``)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Dict, List

import numpy as np

from ..metrics import classification_report, logit_agreement


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
