"""OpenCV's bundled frontal-face Haar cascade: no download, runs everywhere, no landmarks.

Tuned for webcam frames (``benchmarks/face_path.py`` measures it):
- it runs on the frame shrunk to ``DetectorOptions.max_side`` (Haar's cost grows with the pixels
  scanned; faces are found just as well at 320 px as at 640 px down to ~24 px faces);
- ``min_neighbors`` = 3 windows must agree: at 320 px a face filling the frame gets only a few
  windows at the largest scales, so the old 6 (at 640 px) missed close-ups; the face-free photos
  still give no detection (measured);
- the smallest window is ``DetectorOptions.min_face`` at the detector's resolution (>= 20 px).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from ...errors import EdgeclassError
from .base import Detector, DetectorOptions

HAAR_CASCADE = "haarcascade_frontalface_default.xml"


@dataclass(frozen=True)
class HaarSettings:
    scale_factor: float = 1.1
    min_neighbors: int = 3
    equalize: bool = True


def bundled_cascade() -> Path:
    """OpenCV's own ``haarcascade_frontalface_default.xml`` (opencv-python 4.x ships it)."""
    import cv2

    return Path(getattr(getattr(cv2, "data", None), "haarcascades", "")) / HAAR_CASCADE


class HaarCascade(Detector):
    name = "haar"
    has_landmarks = False
    default_score = 0.0  # the cascade gives no score; faces report 1.0
    default_options = DetectorOptions(max_side=320, min_face=24)  # the cascade's window is 20 px at 320 px

    def __init__(self, cascade: Optional[Path] = None, options: Optional[DetectorOptions] = None,
                 settings: Optional[HaarSettings] = None):
        import cv2

        super().__init__(options)
        self.settings = settings or HaarSettings()
        path = Path(cascade) if cascade is not None else bundled_cascade()
        if not path.is_file():
            raise EdgeclassError(f"Haar cascade {path} does not exist (opencv-python 4.x bundles {HAAR_CASCADE})")
        try:
            classifier = cv2.CascadeClassifier(str(path)) if os.path.getsize(path) else None
        except (cv2.error, SystemError):  # OpenCV raises SystemError around a parse error
            classifier = None
        if classifier is None or classifier.empty():
            raise EdgeclassError(f"{path} is not an OpenCV Haar cascade")
        self.path = path
        self._cascade = classifier

    def _detect(self, image_bgr: np.ndarray, min_face: float):
        import cv2

        grey = cv2.cvtColor(image_bgr, cv2.COLOR_BGR2GRAY)
        if self.settings.equalize:
            grey = cv2.equalizeHist(grey)
        side = max(20, int(min_face))
        found = self._cascade.detectMultiScale(grey, scaleFactor=self.settings.scale_factor,
                                               minNeighbors=self.settings.min_neighbors, minSize=(side, side))
        boxes = np.asarray(found, np.float64).reshape(-1, 4)
        boxes[:, 2:] += boxes[:, :2]
        return boxes, np.ones(len(boxes)), None
