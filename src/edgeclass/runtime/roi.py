"""Regions of interest: the whole frame, or faces found by a detector and tracked across frames.

Faces come from OpenCV's bundled frontal-face Haar cascade (no download, runs everywhere) or, when a
model file is given, from YuNet (``cv2.FaceDetectorYN``, more accurate and rotation-tolerant). Each
face is classified on a padded square crop. ``IoUTracker`` gives boxes stable ids across frames so
the runtime can smooth each person's probabilities separately.

The crop helpers and the tracker now live in ``edgeclass.facecrop`` and ``runtime.faces`` (with the
new detectors); they are re-exported here for the live loop until it moves to those modules.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np

from ..errors import EdgeclassError
from ..facecrop import crop, padded_square
from .faces.boxes import iou
from .faces.tracker import IoUTracker, Track

__all__ = ["Box", "Detection", "FaceDetector", "IoUTracker", "Track", "check_roi", "crop", "full_frame_box", "iou", "padded_square"]

Box = Tuple[int, int, int, int]  # x1, y1, x2, y2 in pixels, x2/y2 exclusive

HAAR_CASCADE = "haarcascade_frontalface_default.xml"
ROI_MODES = ("full", "face")


def _cv2():
    import cv2

    return cv2


@dataclass(frozen=True)
class Detection:
    box: Box
    score: float


def full_frame_box(image: np.ndarray) -> Box:
    h, w = image.shape[:2]
    return (0, 0, w, h)


class FaceDetector:
    """Faces in a BGR frame, largest first.

    ``model``: a YuNet ``.onnx`` file (``face_detection_yunet_*.onnx`` from the OpenCV zoo) or None for
    the Haar cascade. ``max_side``: frames are shrunk so their longer side is at most this before
    detection (speed); boxes are returned in the original frame's pixels. ``min_face``: the smallest
    face as a fraction of the frame's shorter side.
    """

    def __init__(self, model: Optional[str] = None, score: float = 0.7, max_side: int = 640, min_face: float = 0.08):
        cv2 = _cv2()
        self.max_side = max_side
        self.min_face = min_face
        self.score = score
        self._yunet = None
        self._cascade = None
        if model:
            if not os.path.isfile(model):
                raise EdgeclassError(f"face model {model} does not exist (give a YuNet .onnx file, or omit it for the Haar cascade)")
            if not hasattr(cv2, "FaceDetectorYN"):
                raise EdgeclassError("YuNet needs OpenCV >= 4.5.4 (cv2.FaceDetectorYN); omit --face-model to use the Haar cascade")
            try:
                self._yunet = cv2.FaceDetectorYN.create(model, "", (320, 320), score, 0.3, 5000)
            except cv2.error as e:
                raise EdgeclassError(f"cannot load face model {model}: {str(e).strip().splitlines()[-1][:160]}") from None
            self.name = "yunet"
        else:
            path = os.path.join(getattr(getattr(cv2, "data", None), "haarcascades", ""), HAAR_CASCADE)
            cascade = cv2.CascadeClassifier(path) if os.path.isfile(path) else None
            if cascade is None or cascade.empty():
                raise EdgeclassError(
                    f"OpenCV's face cascade {HAAR_CASCADE} is not available (opencv-python 4.x bundles it); "
                    "install opencv-python<5 or give a YuNet model with --face-model"
                )
            self._cascade = cascade
            self.name = "haar"

    def detect(self, image: np.ndarray) -> List[Detection]:
        cv2 = _cv2()
        h, w = image.shape[:2]
        scale = min(1.0, self.max_side / max(h, w))
        small = image if scale == 1.0 else cv2.resize(image, (int(round(w * scale)), int(round(h * scale))), interpolation=cv2.INTER_AREA)
        raw = self._detect_yunet(small) if self._yunet is not None else self._detect_haar(small)
        out = []
        for (x, y, bw, bh), score in raw:
            x1, y1 = max(0, int(round(x / scale))), max(0, int(round(y / scale)))
            x2, y2 = min(w, int(round((x + bw) / scale))), min(h, int(round((y + bh) / scale)))
            if x2 - x1 >= 2 and y2 - y1 >= 2:
                out.append(Detection((x1, y1, x2, y2), float(score)))
        out.sort(key=lambda d: (d.box[2] - d.box[0]) * (d.box[3] - d.box[1]), reverse=True)
        return out

    def _detect_haar(self, bgr: np.ndarray) -> List[Tuple[Tuple[float, float, float, float], float]]:
        cv2 = _cv2()
        grey = cv2.equalizeHist(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY))
        side = max(16, int(min(grey.shape[:2]) * self.min_face))
        boxes = self._cascade.detectMultiScale(grey, scaleFactor=1.1, minNeighbors=6, minSize=(side, side))
        return [((float(x), float(y), float(bw), float(bh)), 1.0) for (x, y, bw, bh) in (boxes if len(boxes) else [])]

    def _detect_yunet(self, bgr: np.ndarray) -> List[Tuple[Tuple[float, float, float, float], float]]:
        h, w = bgr.shape[:2]
        self._yunet.setInputSize((w, h))
        _, faces = self._yunet.detect(bgr)
        if faces is None:
            return []
        side = min(h, w) * self.min_face
        return [((float(f[0]), float(f[1]), float(f[2]), float(f[3])), float(f[-1])) for f in faces if min(f[2], f[3]) >= side]


def check_roi(mode: str) -> str:
    if mode not in ROI_MODES:
        raise EdgeclassError(f"unknown --roi {mode!r} (choose from {', '.join(ROI_MODES)})")
    return mode

