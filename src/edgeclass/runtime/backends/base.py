"""``Backend``: what the runtime needs from a model, whatever runs it: a card, batch limits and
``predict`` (float32 NCHW RGB in [0, 1] -> float32 logits (N, classes), for any N)."""

from __future__ import annotations

from typing import Any, Optional

import numpy as np

from ...errors import EdgeclassError
from ...inference import predict_in_chunks
from ...spec import ModelCard, check_class_count


class Backend:
    """What the runtime needs from a model: a card, a batch limit and ``predict``.

    Subclasses set ``name``, ``card``, ``max_batch`` (None = any batch size), ``fixed_batch``
    (True when the model only accepts exactly ``max_batch`` images), ``min_batch`` (the smallest batch
    it accepts) and implement ``_run`` for one chunk that fits the model. ``predict`` handles any
    batch size on top of it (``edgeclass.inference.predict_in_chunks``).
    """

    name: str = "backend"
    card: ModelCard
    max_batch: Optional[int] = None
    fixed_batch: bool = False
    min_batch: int = 1
    path: str = ""

    # -- to implement ---------------------------------------------------------------------------
    def _run(self, batch: np.ndarray) -> np.ndarray:
        """One chunk (N <= max_batch, or exactly max_batch when fixed_batch) -> logits (N, C)."""
        raise NotImplementedError

    def describe(self) -> str:
        return self.name

    def close(self) -> None:
        """Release the session / engine / device memory. Safe to call twice."""

    # -- shared -----------------------------------------------------------------------------------
    def predict(self, batch: np.ndarray) -> np.ndarray:
        """float32 NCHW [0, 1] -> float32 logits (N, classes), for any N (0 included)."""
        batch = self._check_batch(batch)
        if batch.shape[0] == 0:
            return np.zeros((0, self.card.num_classes), np.float32)
        smallest = self.max_batch if self.fixed_batch and self.max_batch else self.min_batch
        return np.ascontiguousarray(predict_in_chunks(self._run, batch, self.max_batch, smallest), dtype=np.float32)

    def _check_batch(self, batch: np.ndarray) -> np.ndarray:
        expected = self.card.input_shape
        if not isinstance(batch, np.ndarray) or batch.ndim != 4 or tuple(batch.shape[1:]) != expected:
            shape = tuple(batch.shape) if isinstance(batch, np.ndarray) else type(batch).__name__
            raise EdgeclassError(f"{self.path or self.name}: expected input (N, {', '.join(map(str, expected))}), got {shape}")
        if batch.dtype != np.float32 or not batch.flags.c_contiguous:
            batch = np.ascontiguousarray(batch, dtype=np.float32)
        return batch

    def verify(self) -> "Backend":
        """Run one blank image: checks the output width against the card and warms the model up."""
        s = self.card.preprocess.imgsz
        out = self.predict(np.zeros((1, 3, s, s), np.float32))
        if out.ndim != 2:
            raise EdgeclassError(f"{self.path}: the model returns shape {tuple(out.shape)}, expected (batch, classes)")
        check_class_count(self.card, int(out.shape[1]), self.path)
        return self

    def __enter__(self) -> "Backend":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()} {self.path}>"
