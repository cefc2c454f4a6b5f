"""Following faces across frames: IoU matching plus a constant-velocity motion model.

Detection may run every N frames (``--detect-every``). On a detection frame ``update(faces)`` moves
every track one frame along its velocity, matches the detections to those predicted boxes (greedy,
best IoU first, at least ``min_iou``), and measures each matched track's velocity (box centre and
size, pixels per frame, smoothed). On the frames in between ``predict()`` moves the tracks along
their velocity, landmarks included, so the crop follows a moving face. A track unmatched for more
than ``max_missed`` detection rounds is forgotten; an unmatched detection starts a new track.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np

from .base import Box, Face
from .boxes import iou

Size = Tuple[int, int]  # frame width, height


def _state(box: Sequence[float]) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in box)
    return np.array([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1])


def _box(state: np.ndarray, size: Optional[Size]) -> Box:
    cx, cy, w, h = state
    x1, y1, x2, y2 = (int(round(v)) for v in (cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
    if size is not None:
        x1, x2 = min(max(x1, 0), size[0] - 1), min(max(x2, 1), size[0])
        y1, y2 = min(max(y1, 0), size[1] - 1), min(max(y2, 1), size[1])
    return (x1, y1, max(x2, x1 + 1), max(y2, y1 + 1))


@dataclass
class Track:
    """One followed face. ``face``: where it is now (detected this frame, or moved by the motion
    model); ``hits``: detections matched; ``missed``: detection rounds since the last match."""

    id: int
    face: Face
    hits: int = 1
    missed: int = 0
    state: np.ndarray = field(default_factory=lambda: np.zeros(4), repr=False)  # cx, cy, w, h
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(4), repr=False)  # per frame
    anchor: Optional[np.ndarray] = field(default=None, repr=False)  # state at the last matched detection
    since_detection: int = 0  # frames since then

    def __post_init__(self) -> None:
        if self.anchor is None:
            self.anchor = self.state.copy()

    @property
    def box(self) -> Box:
        return self.face.box

    def move(self, size: Optional[Size]) -> None:
        """One frame along the velocity; the landmarks follow the box."""
        old = self.state
        new = old + self.velocity
        new[2:] = np.maximum(new[2:], 2.0)
        landmarks = self.face.landmarks
        if landmarks is not None:
            ratio = (new[2:] / np.maximum(old[2:], 1e-6)).astype(np.float32)
            landmarks = ((landmarks - old[:2].astype(np.float32)) * ratio + new[:2].astype(np.float32)).astype(np.float32)
        self.state = new
        self.since_detection += 1
        self.face = Face(_box(new, size), self.face.score, landmarks)


class FaceTracker:
    """Stable ids for faces across frames (see the module docstring). ``smoothing``: weight of the
    newest velocity measurement (1 = no smoothing); ``coast``: factor applied to the velocity of a
    track that a detection round missed (it slows down instead of drifting off)."""

    def __init__(self, min_iou: float = 0.3, max_missed: int = 10, smoothing: float = 0.6, coast: float = 0.5,
                 max_jump: float = 1.0):
        self.min_iou = min_iou
        self.max_jump = max_jump
        self.max_missed = max_missed
        self.smoothing = smoothing
        self.coast = coast
        self.tracks: List[Track] = []
        self._ids = itertools.count(1)

    def predict(self, size: Optional[Size] = None) -> List[Track]:
        """A frame without detection: every track moves one frame; the live tracks."""
        for t in self.tracks:
            t.move(size)
        return list(self.tracks)

    def update(self, faces: Sequence[Union[Face, Box]], size: Optional[Size] = None) -> List[Track]:
        """A detection frame: the track of each face, in the order of ``faces``."""
        faces = [f if isinstance(f, Face) else Face(tuple(int(v) for v in f), 1.0) for f in faces]  # type: ignore[misc]
        self.predict(size)
        owner = self._match(faces)
        result: List[Track] = []
        for k, face in enumerate(faces):
            if k in owner:
                t = self.tracks[owner[k]]
                self._correct(t, face)
            else:
                t = Track(next(self._ids), face, state=_state(face.box))
                self.tracks.append(t)
            result.append(t)
        matched = {id(t) for t in result}
        for t in self.tracks:
            if id(t) not in matched:
                t.missed += 1
                t.velocity = t.velocity * self.coast
        self.tracks = [t for t in self.tracks if t.missed <= self.max_missed]
        return result

    def _affinity(self, track: Track, face: Face) -> float:
        """IoU when it reaches ``min_iou``; else below every IoU match, higher for nearer centres
        (within ``max_jump`` sizes); else 0."""
        overlap = iou(track.box, face.box)
        if overlap >= self.min_iou:
            return overlap
        a, b = _state(track.box), _state(face.box)
        jump = float(np.hypot(*(a[:2] - b[:2])) / max(a[2], a[3], b[2], b[3], 1.0))
        return self.min_iou * 0.99 * (1.0 - jump / self.max_jump) if jump < self.max_jump else 0.0

    def _match(self, faces: Sequence[Face]) -> dict:
        pairs = sorted(
            ((self._affinity(t, f), ti, fi) for ti, t in enumerate(self.tracks) for fi, f in enumerate(faces)),
            reverse=True,
        )
        owner: dict = {}
        used = set()
        for affinity, ti, fi in pairs:
            if affinity <= 0.0:
                break
            if ti in used or fi in owner:
                continue
            owner[fi] = ti
            used.add(ti)
        return owner

    def _correct(self, t: Track, face: Face) -> None:
        measured = _state(face.box)
        frames = max(t.since_detection, 1)
        observed = (measured - t.anchor) / frames
        t.velocity = observed if t.hits == 1 else self.smoothing * observed + (1 - self.smoothing) * t.velocity
        t.state, t.anchor, t.face = measured, measured.copy(), face
        t.hits, t.missed, t.since_detection = t.hits + 1, 0, 0

    def alive_ids(self) -> List[int]:
        return [t.id for t in self.tracks]


IoUTracker = FaceTracker  # the name the runtime used before motion was added
