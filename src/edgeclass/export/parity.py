"""Parity: every exported artifact against PyTorch eager on the same images.

Relative error is ``max |artifact - eager| / max |eager|`` over all logits of all images: a scale-free
number that stays meaningful whether logits are around 1 or 100. fp32 artifacts must agree on the
top-1 class for every image and stay within 1e-3 relative; fp16 must agree on >= 99% of images and
stay within 5e-2 relative.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional

import numpy as np

from ..inference import predict_in_chunks
from ..metrics import logit_agreement

FP32_MAX_REL = 1e-3
FP16_MIN_AGREE = 0.99
# fp16 keeps ~3 significant digits: healthy models land around 1e-3. 5% means the conversion broke
# something (weights clamped to fp16's range, overflowing activations) even when top-1 still agrees.
FP16_MAX_REL = 5e-2


@dataclass(frozen=True)
class Budget:
    min_top1_agree: float
    max_rel: Optional[float]


BUDGETS: Dict[str, Budget] = {
    "torchscript": Budget(1.0, FP32_MAX_REL),
    "onnx": Budget(1.0, FP32_MAX_REL),
    "onnx-fp16": Budget(FP16_MIN_AGREE, FP16_MAX_REL),
}


@dataclass
class ParityRow:
    artifact: str
    format: str
    images: int
    max_abs_diff: float
    rel_error: float
    top1_agree: float
    min_top1_agree: float
    max_rel_error: Optional[float]
    passed: bool

    def to_dict(self) -> dict:
        return asdict(self)


def torchscript_logits(path: str | os.PathLike, images: np.ndarray, batch: int = 32, static_batch: Optional[int] = None) -> np.ndarray:
    import torch

    from ..artifacts import torchscript

    module, _card = torchscript.load(path)

    def fn(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return module(torch.from_numpy(x)).numpy()

    return predict_in_chunks(fn, images, static_batch or batch, static_batch or 1)


def compare(name: str, fmt: str, ref: np.ndarray, got: np.ndarray) -> ParityRow:
    budget = BUDGETS[fmt]
    stats = logit_agreement(ref, got)
    diff, agree = stats["max_abs_diff"], stats["top1_agreement"]
    scale = float(np.max(np.abs(ref))) if ref.size else 1.0
    rel = diff / max(scale, 1e-12)
    passed = bool(np.isfinite(got).all()) and agree >= budget.min_top1_agree and (budget.max_rel is None or rel <= budget.max_rel)
    return ParityRow(name, fmt, int(len(ref)), diff, rel, agree, budget.min_top1_agree, budget.max_rel, passed)


def format_table(rows: List[ParityRow]) -> str:
    head = f"{'artifact':<22} {'images':>6} {'max|dlogit|':>12} {'rel err':>10} {'top-1 agree':>11}  result"
    lines = [head, "-" * len(head)]
    for r in rows:
        need = f">= {r.min_top1_agree:.0%}" + (f", rel <= {r.max_rel_error:g}" if r.max_rel_error is not None else "")
        lines.append(
            f"{r.artifact:<22} {r.images:>6} {r.max_abs_diff:>12.3g} {r.rel_error:>10.3g} {r.top1_agree:>10.2%}  "
            f"{'ok' if r.passed else 'FAIL'} ({need})"
        )
    return "\n".join(lines)
