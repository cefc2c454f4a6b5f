"""``Classifier``: a model file in, ``label, confidence = clf(frame)`` out.

It wraps a backend (chosen from the file suffix), the card's preprocessing and the card's
``unknown`` threshold, so that::

    from edgeclass.runtime import Classifier, open_source
    clf = Classifier("runs/demo/weights/model.onnx")
    for frame in open_source("0"):
        label, conf = clf(frame)
"""

from __future__ import annotations

import os
from typing import Any, List, Optional, Sequence, Tuple, Union

import numpy as np

from ..preprocess import check_frame, preprocess_into, softmax
from ..spec import ModelCard
from .backends import Backend, load_backend
from .results import Prediction, check_threshold, decide

FROM_CARD = "card"  # threshold default: the model card's (None there means no "unknown")

# ONNX Runtime's worker threads spin (busy-wait) between tasks by default. In a live loop the capture
# and prepare threads need those cycles: on the 2-core benchmark machine spinning cost ~35% more CPU
# per frame and lowered the frame rate (benchmarks/runtime_fps.py --spin). Other backends ignore it.
LIVE_ORT_CONFIG = {"session.intra_op.allow_spinning": "0"}


class Classifier:
    """A loaded model with its card: preprocessing, batching, softmax, top-k and threshold.

    ``model``: a path (``.engine``, ``.onnx``, ``.ts``, ``.pt``) or an already loaded ``Backend``.
    ``threshold``: ``"card"`` (default: the card's threshold), None (never ``unknown``) or a value.
    ``bgr``: frames are OpenCV BGR (default) or RGB. Backend options (``providers``, ``device``,
    ``half``, ``threads``) pass through to ``load_backend``.
    """

    def __init__(
        self,
        model: Union[str, os.PathLike, Backend],
        topk: int = 5,
        threshold: Union[float, None, str] = FROM_CARD,
        bgr: bool = True,
        **backend_options: Any,
    ):
        # a path is loaded; anything else is taken as a loaded backend (the protocol is duck-typed:
        # TensorRTBackend has card/predict/describe/close without subclassing Backend)
        if isinstance(model, (str, os.PathLike)):
            backend_options.setdefault("session_config", dict(LIVE_ORT_CONFIG))
            self.backend = load_backend(model, **backend_options)
        else:
            self.backend = model
        self.card: ModelCard = self.backend.card
        self.classes: List[str] = list(self.card.classes)
        self.topk = max(1, int(topk))
        self.threshold = self.card.threshold if threshold == FROM_CARD else check_threshold(threshold)  # type: ignore[arg-type]
        self.bgr = bgr

    # -- preprocessing ------------------------------------------------------------------------------
    def preprocess(self, frame: np.ndarray, out: Optional[np.ndarray] = None) -> np.ndarray:
        """One frame -> float32 CHW input (``edgeclass.preprocess.preprocess_into``), written into
        ``out`` when given (a row of a preallocated batch)."""
        check_frame(frame)
        if out is None:
            s = self.card.preprocess.imgsz
            out = np.empty((3, s, s), np.float32)
        return preprocess_into(frame, self.card.preprocess, out, bgr=self.bgr)

    def preprocess_batch(self, frames: Sequence[np.ndarray]) -> np.ndarray:
        s = self.card.preprocess.imgsz
        batch = np.empty((len(frames), 3, s, s), np.float32)
        for i, f in enumerate(frames):
            self.preprocess(f, out=batch[i])
        return batch

    # -- inference -------------------------------------------------------------------------------------
    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """float32 NCHW [0, 1] -> softmax probabilities (N, classes)."""
        return softmax(self.backend.predict(batch), axis=1)

    def decide(self, probs: np.ndarray, box: Optional[Tuple[int, int, int, int]] = None, track: Optional[int] = None) -> Prediction:
        return decide(probs, self.classes, self.topk, self.threshold, box, track)

    def predict(self, frames: Sequence[np.ndarray]) -> List[Prediction]:
        """Several frames (or crops) in one inference call."""
        for f in frames:
            check_frame(f)
        if not len(frames):
            return []
        probs = self.probabilities(self.preprocess_batch(frames))
        return [self.decide(p) for p in probs]

    def classify(self, frame: np.ndarray) -> Prediction:
        return self.predict([frame])[0]

    def __call__(self, frame: np.ndarray) -> Tuple[str, float]:
        """``label, confidence`` for one frame (``unknown`` below the threshold)."""
        p = self.classify(frame)
        return p.label, p.confidence

    def describe(self) -> str:
        return self.backend.describe()

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> "Classifier":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
