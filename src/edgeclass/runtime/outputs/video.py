"""An annotated video file (``--output out.mp4`` / ``--save``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Dict

from ...errors import EdgeclassError
from .base import Output

FOURCC = {".mp4": "mp4v", ".avi": "MJPG", ".mkv": "mp4v", ".mov": "mp4v"}


class VideoOutput(Output):
    """Frames written as they are shown, opened at the first frame's size. With several sources,
    source ``i`` goes to ``out.<i>.mp4``."""

    drawn = True

    def __init__(self, path: str, fps: float = 30.0):
        self.path = Path(path)
        if self.path.suffix.lower() not in FOURCC:
            raise EdgeclassError(f"--save {path}: use a .mp4, .avi, .mkv or .mov file name")
        self.fps = fps if fps and fps > 0 else 30.0
        self._writers: Dict[int, Any] = {}

    def path_for(self, source: int, many: bool) -> Path:
        return self.path.with_name(f"{self.path.stem}.{source}{self.path.suffix}") if many else self.path

    def write(self, result, many_sources: bool) -> None:
        self.write_image(result.source, result.frame.image, many_sources)

    def write_image(self, source: int, image, many: bool = False) -> None:
        import cv2

        writer = self._writers.get(source)
        if writer is None:
            path = self.path_for(source, many)
            path.parent.mkdir(parents=True, exist_ok=True)
            fourcc = cv2.VideoWriter_fourcc(*FOURCC[path.suffix.lower()])
            writer = cv2.VideoWriter(str(path), fourcc, self.fps, (image.shape[1], image.shape[0]))
            if not writer.isOpened():
                raise EdgeclassError(f"cannot write video {path} (codec not available; try a .avi name)")
            self._writers[source] = writer
        writer.write(image)

    def close(self) -> None:
        for w in self._writers.values():
            w.release()
        self._writers.clear()
