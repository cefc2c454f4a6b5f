"""The overlay drawn on a frame: labels, confidences and boxes, plus a header with FPS and the backend."""

from __future__ import annotations

import time
from typing import Optional, Sequence

import numpy as np

from ..results import UNKNOWN, Prediction

GREEN = (60, 200, 60)
GREY = (160, 160, 160)
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)


def _cv2():
    import cv2

    return cv2


class Overlay:
    """Labels, confidences and boxes on the frame, plus a header with FPS and the backend."""

    def __init__(self, backend: str = "", show_topk: int = 1):
        self.backend = backend
        self.show_topk = show_topk
        self._fps = 0.0
        self._last: Optional[float] = None

    def tick(self) -> float:
        """Update and return the displayed FPS (smoothed over about ten frames)."""
        now = time.perf_counter()
        if self._last is not None and now > self._last:
            inst = 1.0 / (now - self._last)
            self._fps = inst if self._fps == 0 else 0.9 * self._fps + 0.1 * inst
        self._last = now
        return self._fps

    def draw(self, image: np.ndarray, predictions: Sequence[Prediction], fps: Optional[float] = None) -> np.ndarray:
        """Draws in place on the BGR ``image`` and returns it."""
        cv2 = _cv2()
        h, w = image.shape[:2]
        scale = max(0.4, min(w, h) / 640.0)
        thick = max(1, int(round(scale * 2)))
        full = (0, 0, w, h)
        for p in predictions:
            colour = GREY if p.label == UNKNOWN else GREEN
            text = f"{p.label} {p.confidence * 100:.0f}%" + (f" #{p.track}" if p.track is not None else "")
            if p.box is not None and tuple(p.box) != full:
                x1, y1, x2, y2 = p.box
                cv2.rectangle(image, (x1, y1), (x2 - 1, y2 - 1), colour, thick)
                self._label(image, text, (x1, max(0, y1 - 4)), scale, colour, above=True)
            else:
                y = int(40 * scale) + 8
                self._label(image, text, (8, y), scale * 1.2, colour, above=False)
                for j, (name, conf) in enumerate(p.topk[1 : self.show_topk]):
                    self._label(image, f"{name} {conf * 100:.0f}%", (8, y + int((j + 1) * 30 * scale)), scale, GREY, above=False)
        header = f"{fps if fps is not None else self._fps:.1f} FPS  {self.backend}"
        self._label(image, header, (8, h - 8), scale * 0.8, WHITE, above=True)
        return image

    @staticmethod
    def _label(image: np.ndarray, text: str, org: tuple, scale: float, colour: tuple, above: bool) -> None:
        cv2 = _cv2()
        font = cv2.FONT_HERSHEY_SIMPLEX
        (tw, th), base = cv2.getTextSize(text, font, scale, 1)
        x, y = int(org[0]), int(org[1])
        top = y - th - base if above else y - th
        top = max(0, top)
        cv2.rectangle(image, (x, top), (x + tw + 4, top + th + base + 2), BLACK, -1)
        cv2.putText(image, text, (x + 2, top + th + 1), font, scale, colour, 1, cv2.LINE_AA)
