"""Classification metrics in plain numpy (no torch, no scikit-learn), shared by training, evaluation
and calibration reports so that every report computes accuracy the same way.

Conventions: ``labels`` are integer class indices (shape N); ``scores`` are logits or probabilities
(shape N x C; only their ranking matters); a confusion matrix has true classes in rows and predicted
classes in columns. A class that never occurs (or is never predicted) gets precision/recall 0, not
NaN, so the JSON reports stay valid JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Dict, List, Optional, Sequence

import numpy as np


def _as_labels(labels: Sequence[int] | np.ndarray) -> np.ndarray:
    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"labels must be one-dimensional, got shape {y.shape}")
    if y.size and not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"labels must be integer class indices, got dtype {y.dtype}")
    return y.astype(np.int64)


def _as_scores(scores: np.ndarray, n: int) -> np.ndarray:
    s = np.asarray(scores)
    if s.ndim != 2 or s.shape[0] != n:
        raise ValueError(f"scores must have shape (N={n}, classes), got {s.shape}")
    return s


def confusion_matrix(labels: Sequence[int] | np.ndarray, preds: Sequence[int] | np.ndarray, num_classes: int) -> np.ndarray:
    """int64 ``num_classes`` x ``num_classes`` counts: ``cm[true, predicted]``."""
    y, p = _as_labels(labels), _as_labels(preds)
    if y.shape != p.shape:
        raise ValueError(f"labels and predictions differ in length ({y.size} vs {p.size})")
    for name, arr in (("label", y), ("prediction", p)):
        if arr.size and (arr.min() < 0 or arr.max() >= num_classes):
            raise ValueError(f"{name} index out of range for {num_classes} classes")
    flat = np.bincount(y * num_classes + p, minlength=num_classes * num_classes)
    return flat.reshape(num_classes, num_classes).astype(np.int64)


def normalize_rows(cm: np.ndarray) -> np.ndarray:
    """Each row divided by its total (the per-class recall view); empty rows stay 0."""
    cm = np.asarray(cm, dtype=np.float64)
    totals = cm.sum(axis=1, keepdims=True)
    return np.divide(cm, totals, out=np.zeros_like(cm), where=totals > 0)


def topk_correct(scores: np.ndarray, labels: Sequence[int] | np.ndarray, k: int) -> np.ndarray:
    """Boolean N: is the true class among the ``k`` highest scores? (k is capped at the class count)."""
    y = _as_labels(labels)
    s = _as_scores(scores, y.size)
    k = max(1, min(int(k), s.shape[1]))
    if y.size == 0:
        return np.zeros(0, dtype=bool)
    if k == 1:
        return s.argmax(axis=1) == y
    top = np.argpartition(-s, k - 1, axis=1)[:, :k]
    return (top == y[:, None]).any(axis=1)


def topk_accuracy(scores: np.ndarray, labels: Sequence[int] | np.ndarray, k: int = 1) -> float:
    """Fraction of samples whose true class is in the top ``k`` (0.0 for an empty set)."""
    hits = topk_correct(scores, labels, k)
    return float(hits.mean()) if hits.size else 0.0


def logit_agreement(reference: np.ndarray, candidate: np.ndarray) -> Dict[str, float]:
    """How far ``candidate`` logits are from ``reference`` logits on the same images: top-1 agreement
    and max / mean |delta logit| (1.0, 0.0, 0.0 for no images)."""
    if reference.shape != candidate.shape:
        raise ValueError(f"logit shapes differ: {reference.shape} vs {candidate.shape}")
    if len(reference) == 0:
        return {"top1_agreement": 1.0, "max_abs_diff": 0.0, "mean_abs_diff": 0.0}
    diff = np.abs(candidate.astype(np.float64) - reference.astype(np.float64))
    return {
        "top1_agreement": float(np.mean(candidate.argmax(1) == reference.argmax(1))),
        "max_abs_diff": float(diff.max()),
        "mean_abs_diff": float(diff.mean()),
    }


@dataclass
class ClassMetrics:
    name: str
    precision: float
    recall: float
    f1: float
    support: int  # number of samples whose true class is this one


def per_class_metrics(cm: np.ndarray, classes: Sequence[str]) -> List[ClassMetrics]:
    """Precision, recall, F1 and support for each class, from a confusion matrix."""
    cm = np.asarray(cm, dtype=np.float64)
    if cm.shape != (len(classes), len(classes)):
        raise ValueError(f"confusion matrix shape {cm.shape} does not match {len(classes)} classes")
    tp = np.diag(cm)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    return [
        ClassMetrics(str(c), float(precision[i]), float(recall[i]), float(f1[i]), int(actual[i]))
        for i, c in enumerate(classes)
    ]


@dataclass
class ClassificationReport:
    """Everything a run's ``metrics.json`` says about one split."""

    classes: List[str]
    num_samples: int
    top1: float
    top5: float  # top-min(5, classes)
    macro_f1: float
    per_class: List[ClassMetrics]
    confusion: np.ndarray  # counts, cm[true, predicted]

    def to_dict(self) -> Dict[str, Any]:
        """JSON-ready (the confusion matrix as nested lists of ints)."""
        return {
            "num_samples": self.num_samples,
            "top1": self.top1,
            "top5": self.top5,
            "macro_f1": self.macro_f1,
            "classes": list(self.classes),
            "per_class": {m.name: {k: v for k, v in asdict(m).items() if k != "name"} for m in self.per_class},
            "confusion_matrix": self.confusion.tolist(),
        }

    def summary(self) -> str:
        return f"top-1 {self.top1:.2%}, top-5 {self.top5:.2%}, macro F1 {self.macro_f1:.3f} on {self.num_samples} images"


def classification_report(
    scores: np.ndarray, labels: Sequence[int] | np.ndarray, classes: Sequence[str], preds: Optional[np.ndarray] = None
) -> ClassificationReport:
    """The full report from scores (N x C) and true labels. ``preds`` overrides argmax (for example
    predictions after an "unknown" threshold has been applied, mapped to a class index)."""
    y = _as_labels(labels)
    s = _as_scores(scores, y.size)
    if s.shape[1] != len(classes):
        raise ValueError(f"scores have {s.shape[1]} columns but there are {len(classes)} classes")
    p = s.argmax(axis=1) if preds is None else _as_labels(preds)
    cm = confusion_matrix(y, p, len(classes))
    per_class = per_class_metrics(cm, classes)
    present = [m.f1 for m in per_class if m.support > 0]
    return ClassificationReport(
        classes=list(classes),
        num_samples=int(y.size),
        top1=float((p == y).mean()) if y.size else 0.0,
        top5=topk_accuracy(s, y, 5),
        macro_f1=float(np.mean(present)) if present else 0.0,
        per_class=per_class,
        confusion=cm,
    )
