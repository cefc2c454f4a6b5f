"""Box arithmetic on (N, 4) float arrays of x1, y1, x2, y2: overlap, non-maximum suppression, squaring,
and cutting fixed-size patches out of a frame (zero-padded where a box leaves the frame)."""

from __future__ import annotations

from typing import Sequence

import numpy as np


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    """Intersection over union of two boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def nms(boxes: np.ndarray, scores: np.ndarray, threshold: float, mode: str = "union") -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, best score first.

    ``mode="min"`` divides the intersection by the smaller box (suppresses a box inside another)."""
    if len(boxes) == 0:
        return np.zeros(0, dtype=np.int64)
    x1, y1, x2, y2 = (boxes[:, k].astype(np.float64) for k in range(4))
    area = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    order = np.argsort(-scores, kind="stable")
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        iw = np.maximum(0.0, np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]))
        ih = np.maximum(0.0, np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]))
        inter = iw * ih
        denom = np.minimum(area[i], area[rest]) if mode == "min" else area[i] + area[rest] - inter
        overlap = np.divide(inter, denom, out=np.zeros_like(inter), where=denom > 0)
        order = rest[overlap <= threshold]
    return np.asarray(keep, dtype=np.int64)


def squared(boxes: np.ndarray) -> np.ndarray:
    """Each box grown to a square of its longer side about the same centre."""
    out = boxes.astype(np.float64).copy()
    w, h = out[:, 2] - out[:, 0], out[:, 3] - out[:, 1]
    side = np.maximum(w, h)
    out[:, 0] += (w - side) / 2
    out[:, 1] += (h - side) / 2
    out[:, 2] = out[:, 0] + side
    out[:, 3] = out[:, 1] + side
    return out


def regressed(boxes: np.ndarray, reg: np.ndarray) -> np.ndarray:
    """Boxes moved by per-corner offsets given as fractions of the box's width and height."""
    w = (boxes[:, 2] - boxes[:, 0])[:, None]
    h = (boxes[:, 3] - boxes[:, 1])[:, None]
    return boxes + reg * np.hstack([w, h, w, h])


def patches(image: np.ndarray, boxes: np.ndarray, size: int) -> np.ndarray:
    """``size`` x ``size`` patches (N, size, size, C) of ``image`` under ``boxes``; outside is zero."""
    import cv2

    h, w = image.shape[:2]
    out = np.zeros((len(boxes), size, size, image.shape[2]), image.dtype)
    if not len(boxes):
        return out
    ib = np.round(boxes).astype(int)
    pad = int(max(0, -ib[:, 0].min(), -ib[:, 1].min(), ib[:, 2].max() - w, ib[:, 3].max() - h))
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=0) if pad else image
    for k, (x1, y1, x2, y2) in enumerate(ib + pad):
        if x2 - x1 < 1 or y2 - y1 < 1:
            continue
        region = padded[y1:y2, x1:x2]
        interp = cv2.INTER_AREA if region.shape[0] > size else cv2.INTER_LINEAR
        out[k] = cv2.resize(region, (size, size), interpolation=interp).reshape(size, size, -1)
    return out
