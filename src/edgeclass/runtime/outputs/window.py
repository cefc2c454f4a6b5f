"""A window on the local display (``--output display://0`` / ``--show``); ``q`` or Esc ends the run."""

from __future__ import annotations

import os
import sys
from typing import List

import numpy as np

from ...errors import EdgeclassError
from .base import Output


class Window:
    """One OpenCV window per source."""

    def __init__(self, title: str = "edgeclass"):
        if not os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY") and sys.platform.startswith("linux"):
            raise EdgeclassError("--show needs a display (DISPLAY is not set); run headless with --save or --json instead")
        self.title = title
        self.names: List[str] = []

    def show(self, source: int, image: np.ndarray) -> None:
        import cv2

        cv2.imshow(f"{self.title} [{source}]" if source else self.title, image)

    def wants_quit(self) -> bool:
        import cv2

        return (cv2.waitKey(1) & 0xFF) in (ord("q"), 27)

    def close(self) -> None:
        try:
            import cv2

            cv2.destroyAllWindows()
        except Exception:
            pass


class WindowOutput(Output):
    drawn = True

    def __init__(self, display: int = 0):
        self.window = Window("edgeclass" if display == 0 else f"edgeclass:{display}")
        self._quit = False

    def write(self, result, many_sources: bool) -> None:
        self.window.show(result.source, result.frame.image)

    def end_step(self) -> None:
        self._quit = self._quit or self.window.wants_quit()

    def wants_quit(self) -> bool:
        return self._quit

    def close(self) -> None:
        self.window.close()
