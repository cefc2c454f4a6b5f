"""``edgeclass collect``: labelled photos from a camera, written as ``ROOT/<class>/<unique>.jpg``,
ready for ``edgeclass data split ROOT``.

Two ways to label:
- **bursts** (default, works headless): for each class in turn, a countdown, then ``count`` images
  taken ``interval`` seconds apart. Time is the source's media time, so a video file as the source
  gives the same images on every run (and is how this is tested).
- **keys** (``--show``): a window shows the camera; press ``1``..``9`` to save a frame for the 1st..9th
  class, ``q`` to stop.

With ``faces=True`` only the largest face (padded square crop) is saved; frames without a face are
skipped and not counted.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from ..errors import EdgeclassError
from ..fileio import atomic_path
from ..runtime.roi import FaceDetector, crop, padded_square
from ..runtime.sources import Frame, Source

_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class CollectConfig:
    out: Path
    classes: List[str]
    mode: str = "burst"  # burst | keys
    count: int = 20  # images per class (burst)
    interval: float = 0.5  # seconds between images of a burst
    countdown: float = 3.0  # seconds before each class's burst
    faces: bool = False  # save the largest face crop instead of the whole frame
    face_model: Optional[str] = None
    face_pad: float = 0.25
    ext: str = ".jpg"
    show: bool = False

    def validate(self) -> "CollectConfig":
        names = [c.strip() for c in self.classes if c.strip()]
        if not names:
            raise EdgeclassError("give the class names with --classes alice,bob,carol")
        if len(set(names)) != len(names):
            raise EdgeclassError("--classes lists a class twice")
        bad = [c for c in names if c in (".", "..") or "/" in c or "\\" in c or c.startswith(".")]
        if bad:
            raise EdgeclassError(f"class names become folder names; these cannot: {', '.join(bad)}")
        self.classes = names
        if self.mode not in ("burst", "keys"):
            raise EdgeclassError(f"unknown collect mode {self.mode!r} (burst or keys)")
        if self.mode == "keys" and not self.show:
            raise EdgeclassError("key labelling needs the window (--show); headless, use timed bursts")
        if self.mode == "keys" and len(names) > 9:
            raise EdgeclassError("key labelling supports up to 9 classes (keys 1-9); use bursts for more")
        if self.count < 1 or self.interval < 0 or self.countdown < 0:
            raise EdgeclassError("--count must be >= 1, --interval and --countdown >= 0")
        if self.ext.lower() not in (".jpg", ".png"):
            raise EdgeclassError("images are saved as .jpg or .png")
        return self


@dataclass
class CollectResult:
    counts: Dict[str, int] = field(default_factory=dict)
    files: List[Path] = field(default_factory=list)
    complete: bool = False  # every class got its images


class ImageWriter:
    """Unique, sortable file names (``<class>_<time>_<n>.jpg``) that never overwrite earlier sessions."""

    def __init__(self, root: Path, ext: str):
        self.root = root
        self.ext = ext
        self.session = time.strftime("%Y%m%d-%H%M%S")
        self._n = 0

    def path_for(self, label: str) -> Path:
        folder = self.root / label
        folder.mkdir(parents=True, exist_ok=True)
        stem = _SAFE.sub("_", label)
        while True:
            self._n += 1
            p = folder / f"{stem}_{self.session}_{self._n:05d}{self.ext}"
            if not p.exists():
                return p

    def save(self, label: str, image: np.ndarray) -> Path:
        import cv2

        p = self.path_for(label)
        with atomic_path(p) as tmp:
            if not cv2.imwrite(str(tmp), image):
                raise EdgeclassError(f"cannot write {p}")
        return p


class _Cropper:
    def __init__(self, cfg: CollectConfig):
        self.detector = FaceDetector(cfg.face_model) if cfg.faces else None
        self.pad = cfg.face_pad

    def __call__(self, image: np.ndarray) -> Optional[np.ndarray]:
        """What to save from a frame; None when faces are wanted and there is none."""
        if self.detector is None:
            return image
        faces = self.detector.detect(image)
        if not faces:
            return None
        h, w = image.shape[:2]
        return crop(image, padded_square(faces[0].box, self.pad, w, h)).copy()


def _banner(image: np.ndarray, text: str) -> np.ndarray:
    import cv2

    shown = image.copy()
    scale = max(0.5, min(shown.shape[:2]) / 480.0)
    cv2.putText(shown, text, (10, int(40 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 4, cv2.LINE_AA)
    cv2.putText(shown, text, (10, int(40 * scale)), cv2.FONT_HERSHEY_SIMPLEX, scale, (60, 220, 60), 2, cv2.LINE_AA)
    return shown


def collect_bursts(source: Source, cfg: CollectConfig, log=print) -> CollectResult:
    """For each class: countdown, then ``count`` images ``interval`` s apart (source media time)."""
    window = _window(cfg)
    writer, cropper = ImageWriter(cfg.out, cfg.ext), _Cropper(cfg)
    result = CollectResult(counts={c: 0 for c in cfg.classes})
    k, phase_start, last_shot = 0, None, None
    try:
        for frame in source.frames():
            label = cfg.classes[k]
            if phase_start is None:
                phase_start = frame.t
                log(f"{label}: get ready ({cfg.countdown:g} s), then {cfg.count} images")
            elapsed = frame.t - phase_start
            if elapsed < cfg.countdown:
                if _show(window, frame, f"{label} in {cfg.countdown - elapsed:.0f}"):
                    break
                continue
            if last_shot is None or frame.t - last_shot >= cfg.interval - 1e-6:
                image = cropper(frame.image)
                if image is not None:
                    result.files.append(writer.save(label, image))
                    result.counts[label] += 1
                    last_shot = frame.t
            quit_now = _show(window, frame, f"{label}: {result.counts[label]}/{cfg.count}")
            if result.counts[label] >= cfg.count:
                k, phase_start, last_shot = k + 1, None, None
                if k == len(cfg.classes):
                    result.complete = True
                    break
            if quit_now:
                break
    finally:
        if window is not None:
            window.close()
    return result


def collect_keys(source: Source, cfg: CollectConfig, log=print) -> CollectResult:
    """A window; keys 1..9 save the frame for that class, q quits."""
    import cv2

    window = _window(cfg)
    writer, cropper = ImageWriter(cfg.out, cfg.ext), _Cropper(cfg)
    result = CollectResult(counts={c: 0 for c in cfg.classes})
    help_text = "  ".join(f"{i + 1}:{c}" for i, c in enumerate(cfg.classes)) + "  q:quit"
    log(help_text)
    try:
        for frame in source.frames():
            window.show(0, _banner(frame.image, help_text))
            key = cv2.waitKey(1) & 0xFF
            if key in (ord("q"), 27):
                break
            if ord("1") <= key < ord("1") + len(cfg.classes):
                label = cfg.classes[key - ord("1")]
                image = cropper(frame.image)
                if image is None:
                    log("no face in that frame; not saved")
                    continue
                result.files.append(writer.save(label, image))
                result.counts[label] += 1
                log(f"{label}: {result.counts[label]}")
    finally:
        window.close()
    return result


def _window(cfg: CollectConfig):
    if not cfg.show:
        return None
    from ..runtime.outputs import Window

    return Window("edgeclass collect")


def _show(window, frame: Frame, text: str) -> bool:
    """Show the frame with ``text``; True when the user pressed q / Esc."""
    if window is None:
        return False
    window.show(0, _banner(frame.image, text))
    return window.wants_quit()


def collect(source: Source, cfg: CollectConfig, log=print) -> CollectResult:
    cfg.validate()
    cfg.out.mkdir(parents=True, exist_ok=True)
    try:
        return collect_keys(source, cfg, log) if cfg.mode == "keys" else collect_bursts(source, cfg, log)
    finally:
        source.close()
