"""Drawing and writing results: the on-screen overlay, the ``--save`` video, ``--json`` lines, the window."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any, Dict, IO, List, Optional, Sequence

import numpy as np

from ..errors import EdgeclassError
from .results import UNKNOWN, Prediction

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


class VideoSaver:
    """``--save out.mp4``: frames written as they are shown (opened at the first frame's size).
    With several sources, source ``i`` goes to ``out.<i>.mp4``."""

    FOURCC = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "mp4v", ".mov": "mp4v"}

    def __init__(self, path: str, fps: float = 30.0):
        self.path = Path(path)
        if self.path.suffix.lower() not in self.FOURCC:
            raise EdgeclassError(f"--save {path}: use a .mp4, .avi, .mkv or .mov file name")
        self.fps = fps if fps and fps > 0 else 30.0
        self._writers: Dict[int, Any] = {}

    def path_for(self, source: int, many: bool) -> Path:
        return self.path.with_name(f"{self.path.stem}.{source}{self.path.suffix}") if many else self.path

    def write(self, source: int, image: np.ndarray, many: bool = False) -> None:
        cv2 = _cv2()
        writer = self._writers.get(source)
        if writer is None:
            path = self.path_for(source, many)
            path.parent.mkdir(parents=True, exist_ok=True)
            fourcc = cv2.VideoWriter_fourcc(*self.FOURCC[path.suffix.lower()])
            writer = cv2.VideoWriter(str(path), fourcc, self.fps, (image.shape[1], image.shape[0]))
            if not writer.isOpened():
                raise EdgeclassError(f"cannot write video {path} (codec not available; try a .avi name)")
            self._writers[source] = writer
        writer.write(image)

    def close(self) -> None:
        for w in self._writers.values():
            w.release()
        self._writers.clear()


class JsonLines:
    """``--json FILE`` (``-`` = stdout): one JSON object per line, flushed per step."""

    def __init__(self, target: str):
        self._own = target != "-"
        if self._own:
            Path(target).parent.mkdir(parents=True, exist_ok=True)
        self._f: IO[str] = open(target, "w", encoding="utf-8") if self._own else sys.stdout

    def write(self, record: Dict[str, Any]) -> None:
        self._f.write(json.dumps(record, separators=(",", ":")) + "\n")

    def flush(self) -> None:
        self._f.flush()

    def close(self) -> None:
        if self._own:
            self._f.close()
        else:
            self._f.flush()


class Window:
    """``--show``: one OpenCV window per source; ``q`` or Esc ends the run."""

    def __init__(self, title: str = "edgeclass"):
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") and sys.platform.startswith("linux"):
            raise EdgeclassError("--show needs a display (DISPLAY is not set); run headless with --save or --json instead")
        self.title = title
        self.names: List[str] = []

    def show(self, source: int, image: np.ndarray) -> None:
        cv2 = _cv2()
        name = f"{self.title} [{source}]" if source else self.title
        cv2.imshow(name, image)

    def wants_quit(self) -> bool:
        key = _cv2().waitKey(1) & 0xFF
        return key in (ord("q"), 27)

    def close(self) -> None:
        try:
            _cv2().destroyAllWindows()
        except Exception:
            pass
