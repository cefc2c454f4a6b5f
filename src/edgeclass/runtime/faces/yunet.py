"""YuNet (OpenCV zoo, MIT) through ``cv2.FaceDetectorYN``: boxes, scores and five landmarks.

The model file is a download (``edgeclass.facemodels.fetch_model("yunet")``, ~230 KB). OpenCV gives
landmarks in the package's order already (the subject's right eye, i.e. the image-left one, first).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

import numpy as np

from ...errors import EdgeclassError
from .base import Detector, DetectorOptions
from .netrunner import reason


class YuNet(Detector):
    name = "yunet"
    has_landmarks = True
    default_score = 0.6
    nms_threshold = 0.3

    def __init__(self, path: Path, options: Optional[DetectorOptions] = None):
        import cv2

        super().__init__(options)
        self.path = Path(path)
        if not self.path.is_file():
            raise EdgeclassError(f"YuNet model {self.path} does not exist")
        if not hasattr(cv2, "FaceDetectorYN"):
            raise EdgeclassError("YuNet needs OpenCV >= 4.5.4 (cv2.FaceDetectorYN)")
        if os.path.getsize(self.path) == 0:
            raise EdgeclassError(f"YuNet model {self.path} is empty")
        self._size = (64, 64)
        try:
            self._net = cv2.FaceDetectorYN.create(str(self.path), "", self._size, self.score_threshold, self.nms_threshold, 5000)
            self._net.detect(np.zeros((64, 64, 3), np.uint8))  # a file of another kind fails here
        except cv2.error as e:
            raise EdgeclassError(f"{self.path} is not a face detector model (read as YuNet: {reason(e)})") from None

    def _detect(self, image_bgr: np.ndarray, min_face: float):
        h, w = image_bgr.shape[:2]
        if (w, h) != self._size:
            self._net.setInputSize((w, h))
            self._size = (w, h)
        _, found = self._net.detect(image_bgr)
        if found is None or not len(found):
            return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2), np.float32)
        found = np.asarray(found, np.float64)
        boxes = np.hstack([found[:, :2], found[:, :2] + found[:, 2:4]])
        return boxes, found[:, 14], found[:, 4:14].reshape(-1, 5, 2).astype(np.float32)
