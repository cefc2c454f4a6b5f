"""From probabilities to what the user sees: top-k, the ``unknown`` threshold, temporal smoothing."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Hashable, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import EdgeclassError

UNKNOWN = "unknown"


@dataclass(frozen=True)
class Prediction:
    """One classified region: the decided label and the evidence for it (made once, never changed)."""

    label: str  # a class name, or "unknown" below the threshold
    confidence: float  # probability of the top class (after smoothing)
    index: int  # class index of the top class (also when the label is "unknown")
    topk: List[Tuple[str, float]]  # best k classes with their probabilities
    probs: np.ndarray = field(repr=False)  # (classes,) float32, after smoothing
    box: Optional[Tuple[int, int, int, int]] = None  # x1, y1, x2, y2 of the region in the frame
    track: Optional[int] = None  # face track id (``--roi face``)

    def to_json(self) -> Dict[str, object]:
        """The region's record in ``run --json`` lines (see ``FRAME_SCHEMA`` in pipeline.py)."""
        return {
            "label": self.label,
            "confidence": round(self.confidence, 5),
            "topk": [[name, round(p, 5)] for name, p in self.topk],
            "box": list(self.box) if self.box is not None else None,
            "track": self.track,
        }


def decide(
    probs: np.ndarray,
    classes: Sequence[str],
    k: int = 1,
    threshold: Optional[float] = None,
    box: Optional[Tuple[int, int, int, int]] = None,
    track: Optional[int] = None,
) -> Prediction:
    """Top-k of one probability vector; the label is ``unknown`` when the best one is below ``threshold``.
    ``box``/``track``: where the region is in the frame and which face track it belongs to."""
    k = max(1, min(k, len(classes)))
    order = np.argsort(-probs, kind="stable")[:k]
    top = int(order[0])
    conf = float(probs[top])
    label = UNKNOWN if threshold is not None and conf < threshold else classes[top]
    topk = [(classes[int(i)], float(probs[int(i)])) for i in order]
    return Prediction(label, conf, top, topk, probs, None if box is None else tuple(int(v) for v in box), track)


def check_threshold(threshold: Optional[float]) -> Optional[float]:
    if threshold is not None and not 0.0 <= float(threshold) <= 1.0:
        raise EdgeclassError(f"--threshold {threshold} is not in [0, 1]")
    return None if threshold is None else float(threshold)


class Smoother:
    """Exponential moving average of probabilities, one average per key (a face track, a source).

    ``alpha`` is the weight of the newest frame: 1 disables smoothing, 0.3 means a label needs a few
    frames to flip. Averaging probabilities (not labels) keeps the confidence meaningful.
    """

    def __init__(self, alpha: float = 0.5):
        if not 0.0 < alpha <= 1.0:
            raise EdgeclassError(f"--smooth {alpha} must be in (0, 1] (1 = no smoothing)")
        self.alpha = float(alpha)
        self._state: Dict[Hashable, np.ndarray] = {}

    def update(self, key: Hashable, probs: np.ndarray) -> np.ndarray:
        prev = self._state.get(key)
        if prev is None or self.alpha >= 1.0:
            cur = probs.astype(np.float32, copy=True)
        else:
            cur = (self.alpha * probs + (1.0 - self.alpha) * prev).astype(np.float32)
        self._state[key] = cur
        return cur

    def keep_only(self, keys: Iterable[Hashable]) -> None:
        """Forget the averages of keys no longer alive (tracks that left the picture)."""
        alive = set(keys)
        for key in [k for k in self._state if k not in alive]:
            del self._state[key]

    def __len__(self) -> int:
        return len(self._state)
