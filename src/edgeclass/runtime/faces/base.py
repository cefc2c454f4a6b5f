"""What every face detector returns (``Face``), the options they share (``DetectorOptions``) and the
common frame handling (``Detector.detect``): shrink the frame for speed, run the detector, map the
boxes and landmarks back to the frame's pixels, drop faces under the minimum size, largest first.

Landmark convention (the ArcFace / SFace one, in image coordinates): rows are
0 the eye on the image's left (the subject's right eye), 1 the eye on the image's right,
2 the nose tip, 3 the mouth corner on the image's left, 4 the mouth corner on the image's right.
So for an upright face ``landmarks[0, 0] < landmarks[1, 0]`` and ``landmarks[3, 0] < landmarks[4, 0]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import List, Optional, Tuple

import numpy as np

from ...errors import EdgeclassError
from ...preprocess import check_frame

Box = Tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels, x2/y2 exclusive

LANDMARK_NAMES = ("left eye", "right eye", "nose", "left mouth corner", "right mouth corner")  # image-left/right


@dataclass(frozen=True, eq=False)
class Face:
    """One face: its box inside the frame, the detector's score, and five landmarks or None."""

    box: Box
    score: float
    landmarks: Optional[np.ndarray] = field(default=None, repr=False)  # (5, 2) float32 x, y in frame pixels

    @property
    def size(self) -> int:
        """The box's longer side in pixels (what ``DetectorOptions.min_face`` compares with)."""
        return max(self.box[2] - self.box[0], self.box[3] - self.box[1])


@dataclass(frozen=True)
class DetectorOptions:
    """``max_side``: frames whose longer side is larger are shrunk to it before detection (None: full
    size); ``scale``: a further factor in (0, 1] (detection at reduced resolution); ``min_face``:
    the smallest face reported, the box's longer side in pixels of the original frame; ``score``: the detector's
    score threshold (None: its own default)."""

    max_side: Optional[int] = 640
    scale: float = 1.0
    min_face: int = 20
    score: Optional[float] = None

    def validate(self) -> "DetectorOptions":
        if self.max_side is not None and self.max_side < 32:
            raise EdgeclassError(f"detection max side {self.max_side} is too small (use at least 32)")
        if not 0.0 < self.scale <= 1.0:
            raise EdgeclassError(f"detection scale {self.scale} must be in (0, 1]")
        if self.min_face < 1:
            raise EdgeclassError(f"minimum face size {self.min_face} must be at least 1 pixel")
        if self.score is not None and not 0.0 <= self.score <= 1.0:
            raise EdgeclassError(f"face score threshold {self.score} must be in [0, 1]")
        return self

    def factor(self, width: int, height: int) -> float:
        """The resize factor from a frame of this size to the detector's input."""
        f = self.scale
        if self.max_side is not None:
            f = min(f, self.max_side / max(width, height))
        return min(1.0, f)


def shrink(image: np.ndarray, factor: float) -> np.ndarray:
    """``image`` resized by ``factor`` (<= 1) with the project's anti-aliased resize."""
    if factor >= 1.0:
        return image
    import cv2

    from ...preprocess import _resize

    h, w = image.shape[:2]
    return _resize(cv2, image, max(1, int(round(w * factor))), max(1, int(round(h * factor))), "linear")


def faces_from_arrays(boxes: np.ndarray, scores: np.ndarray, landmarks: Optional[np.ndarray], factor: float,
                      width: int, height: int, min_face: int) -> List[Face]:
    """Detector output at the reduced size -> ``Face`` list in frame pixels, clipped, filtered, largest first.

    ``boxes``: (N, 4) float x1, y1, x2, y2; ``landmarks``: (N, 5, 2) or None."""
    boxes = np.asarray(boxes, np.float64).reshape(-1, 4) / factor
    x1 = np.clip(np.round(boxes[:, 0]), 0, width).astype(int)
    y1 = np.clip(np.round(boxes[:, 1]), 0, height).astype(int)
    x2 = np.clip(np.round(boxes[:, 2]), 0, width).astype(int)
    y2 = np.clip(np.round(boxes[:, 3]), 0, height).astype(int)
    side = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    keep = (side >= min_face) & (x2 - x1 >= 2) & (y2 - y1 >= 2)
    pts = None if landmarks is None else np.asarray(landmarks, np.float32).reshape(-1, 5, 2) / np.float32(factor)
    faces = [
        Face((int(x1[i]), int(y1[i]), int(x2[i]), int(y2[i])), float(scores[i]), None if pts is None else pts[i].copy())
        for i in np.flatnonzero(keep)
    ]
    faces.sort(key=lambda f: (f.box[2] - f.box[0]) * (f.box[3] - f.box[1]), reverse=True)
    return faces


class Detector:
    """A face detector. Subclasses set ``name`` and implement ``_detect`` on the (possibly shrunk)
    BGR frame; ``detect`` does the rest. ``has_landmarks`` says whether faces carry landmarks."""

    name = "detector"
    has_landmarks = False
    default_score = 0.5
    default_options = DetectorOptions()

    def __init__(self, options: Optional[DetectorOptions] = None):
        self.options = (options or self.default_options).validate()

    @property
    def score_threshold(self) -> float:
        return self.default_score if self.options.score is None else self.options.score

    def detect(self, image_bgr: np.ndarray) -> List[Face]:
        """The faces in a BGR uint8 frame, largest first; a frame without faces gives []."""
        check_frame(image_bgr)
        if image_bgr.ndim == 2 or image_bgr.shape[2] != 3:
            import cv2

            image_bgr = cv2.cvtColor(image_bgr, cv2.COLOR_GRAY2BGR if image_bgr.ndim == 2 else cv2.COLOR_BGRA2BGR)
        h, w = image_bgr.shape[:2]
        factor = self.options.factor(w, h)
        small = shrink(image_bgr, factor)
        factor = small.shape[1] / w  # the factor actually applied, after rounding
        boxes, scores, landmarks = self._detect(small, self.options.min_face * factor)
        return faces_from_arrays(boxes, scores, landmarks, factor, w, h, self.options.min_face)

    def _detect(self, image_bgr: np.ndarray, min_face: float):
        """-> (boxes (N, 4) x1 y1 x2 y2, scores (N,), landmarks (N, 5, 2) or None) in this image's pixels."""
        raise NotImplementedError

    def describe(self) -> str:
        return self.name
