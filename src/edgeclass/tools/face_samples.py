"""Labelled face photos from packages, and 640x480 frames made from them, for face-detector tests and
``benchmarks/face_path.py``.

Photos (none made here):
- scikit-image's ``astronaut`` (Eileen Collins, NASA, public domain): one face;
- ``t1.jpg`` of the insightface sdist on the package registry (MIT-licensed repository): a group of
  six, frontal to half-profile, heads tilted. ``group_photo()`` downloads the sdist with pip into the
  cache once and keeps only the image;
- ``skimage.data.lfw_subset()``: 100 25x25 grey face crops (and 100 non-faces);
- face-free: scikit-image's coffee, rocket, chelsea (a cat) and scikit-learn's china and flower.

Boxes were labelled by eye (brow to chin, cheek to cheek) and checked on screen over the photo.
A detection matches a label when their IoU is at least ``MATCH_IOU`` (lenient: detectors draw face
boxes with different margins).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..errors import EdgeclassError
from ..facemodels import edgeclass_home
from ..fileio import atomic_path
from ..runtime.faces.base import Box

FRAME = (640, 480)  # width, height
MATCH_IOU = 0.4
GROUP_SDIST = "insightface==2.1"
GROUP_MEMBER = "insightface-2.1/insightface/data/images/t1.jpg"

ASTRONAUT_FACES: List[Box] = [(179, 62, 266, 173)]
GROUP_FACES: List[Box] = [  # t1.jpg, 1280x886
    (48, 260, 169, 398), (269, 147, 370, 265), (465, 269, 570, 406),
    (738, 342, 840, 476), (909, 63, 1013, 200), (1133, 275, 1227, 397),
]


@dataclass
class LabelledFrame:
    name: str
    image: np.ndarray  # BGR uint8
    boxes: List[Box] = field(default_factory=list)


def _cv2():
    import cv2

    return cv2


def astronaut() -> LabelledFrame:
    import skimage.data

    return LabelledFrame("astronaut", _cv2().cvtColor(skimage.data.astronaut(), _cv2().COLOR_RGB2BGR), list(ASTRONAUT_FACES))


def group_photo_path(cache: Optional[Path] = None) -> Path:
    """``t1.jpg`` in the cache (``$EDGECLASS_HOME/testdata``), fetched with pip the first time."""
    folder = Path(cache or edgeclass_home() / "testdata")
    path = folder / "insightface-t1.jpg"
    if path.is_file():
        return path
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-q", "-d", tmp, GROUP_SDIST]
        try:
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        except (OSError, subprocess.TimeoutExpired) as e:
            raise EdgeclassError(f"cannot run pip to fetch the group photo ({e})") from None
        sdists = sorted(Path(tmp).glob("insightface-*.tar.gz"))
        if res.returncode != 0 or not sdists:
            last = (res.stderr.strip().splitlines() or ["no sdist"])[-1]
            raise EdgeclassError(f"pip download {GROUP_SDIST} failed ({last[:160]}); put t1.jpg from it at {path}")
        with tarfile.open(sdists[0]) as tar:
            try:
                member = tar.extractfile(GROUP_MEMBER)
            except KeyError:
                member = None
            if member is None:
                raise EdgeclassError(f"{sdists[0].name} has no {GROUP_MEMBER}")
            with atomic_path(path) as out:
                with open(out, "wb") as f:
                    shutil.copyfileobj(member, f)
    return path


def group_photo(cache: Optional[Path] = None) -> LabelledFrame:
    image = _cv2().imread(str(group_photo_path(cache)))
    if image is None:
        raise EdgeclassError(f"{group_photo_path(cache)} is not a readable image; delete it to fetch it again")
    return LabelledFrame("group", image, list(GROUP_FACES))


def face_free() -> List[LabelledFrame]:
    """Photos without a person in them (a cat among them: a fair test for a face detector)."""
    import skimage.data
    from sklearn.datasets import load_sample_images

    cv2 = _cv2()
    rgb = {"coffee": skimage.data.coffee(), "rocket": skimage.data.rocket(), "chelsea-cat": skimage.data.chelsea()}
    for name, image in zip(("china", "flower"), load_sample_images().images):
        rgb[name] = image
    return [LabelledFrame(name, cv2.cvtColor(im, cv2.COLOR_RGB2BGR)) for name, im in rgb.items()]


# -- frames made from the photos ---------------------------------------------------------------


def _warp(src: LabelledFrame, matrix: np.ndarray, size: Tuple[int, int], name: str,
          canvas: Optional[np.ndarray] = None) -> LabelledFrame:
    """``src`` moved by a 2x3 scale+shift ``matrix`` into a frame of ``size`` (over ``canvas``)."""
    cv2 = _cv2()
    w, h = size
    interp = cv2.INTER_AREA if matrix[0, 0] < 1 else cv2.INTER_LINEAR
    if canvas is None:
        out = cv2.warpAffine(src.image, matrix, (w, h), flags=interp, borderMode=cv2.BORDER_REPLICATE)
    else:
        out = canvas.copy()
        cv2.warpAffine(src.image, matrix, (w, h), dst=out, flags=interp, borderMode=cv2.BORDER_TRANSPARENT)
    boxes = []
    for x1, y1, x2, y2 in src.boxes:
        (a, b), (c, d) = _corners(matrix, x1, y1, x2, y2)
        box = (int(round(max(a, 0))), int(round(max(b, 0))), int(round(min(c, w))), int(round(min(d, h))))
        if box[2] - box[0] > 0.5 * (c - a) and box[3] - box[1] > 0.5 * (d - b):
            boxes.append(box)
    return LabelledFrame(name, out, boxes)


def _corners(m: np.ndarray, x1: float, y1: float, x2: float, y2: float):
    p = m @ np.array([[x1, x2], [y1, y2], [1.0, 1.0]])
    return (p[0, 0], p[1, 0]), (p[0, 1], p[1, 1])


def _scale_shift(scale: float, dx: float, dy: float) -> np.ndarray:
    return np.array([[scale, 0.0, dx], [0.0, scale, dy]])


def fitted(src: LabelledFrame, size: Tuple[int, int] = FRAME) -> LabelledFrame:
    """The whole photo scaled to fit ``size`` (the borders repeat the edge pixels)."""
    w, h = size
    ih, iw = src.image.shape[:2]
    s = min(w / iw, h / ih)
    return _warp(src, _scale_shift(s, (w - iw * s) / 2, (h - ih * s) / 2), size, f"{src.name}-{w}x{h}")


def close_up(src: LabelledFrame, face: int = 0, fill: float = 0.8, size: Tuple[int, int] = FRAME) -> LabelledFrame:
    """The frame filled by one face: its box is ``fill`` of the frame's height (a laptop webcam)."""
    w, h = size
    x1, y1, x2, y2 = src.boxes[face]
    s = fill * h / (y2 - y1)
    dx, dy = w / 2 - s * (x1 + x2) / 2, h / 2 - s * (y1 + y2) / 2
    return _warp(LabelledFrame(src.name, src.image, [src.boxes[face]]), _scale_shift(s, dx, dy), size, f"{src.name}{face}-closeup{int(fill * 100)}")


def flipped(src: LabelledFrame) -> LabelledFrame:
    w = src.image.shape[1]
    return LabelledFrame(f"{src.name}-flipped", _cv2().flip(src.image, 1), [(w - x2, y1, w - x1, y2) for x1, y1, x2, y2 in src.boxes])


def face_tiles(sources: Sequence[LabelledFrame], context: float = 0.6) -> List[LabelledFrame]:
    """Each labelled face with ``context`` (fraction of its size) around it, as its own small image."""
    tiles = []
    for src in sources:
        ih, iw = src.image.shape[:2]
        for k, (x1, y1, x2, y2) in enumerate(src.boxes):
            side = max(x2 - x1, y2 - y1) * (1 + 2 * context)
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            m = _scale_shift(1.0, side / 2 - cx, side / 2 - cy)
            tiles.append(_warp(LabelledFrame(src.name, src.image, [(x1, y1, x2, y2)]), m, (int(side), int(side)), f"{src.name}{k}"))
    return tiles


def mosaic(tiles: Sequence[LabelledFrame], rows: int, cols: int, face_px: float, canvas: np.ndarray,
           name: str, flip_every: int = 2, jitter: int = 0, seed: int = 0) -> LabelledFrame:
    """``rows`` x ``cols`` faces over ``canvas`` (a frame-sized BGR image), each scaled so its box is
    ``face_px`` high, every ``flip_every``-th mirrored, centred in its cell (+- ``jitter`` px)."""
    rng = np.random.default_rng(seed)
    h, w = canvas.shape[:2]
    frame = LabelledFrame(name, canvas.copy(), [])
    for k in range(rows * cols):
        tile = tiles[k % len(tiles)]
        if flip_every and k % flip_every == 1:
            tile = flipped(tile)
        x1, y1, x2, y2 = tile.boxes[0]
        s = face_px / (y2 - y1)
        th, tw = tile.image.shape[:2]
        cx = (k % cols + 0.5) * w / cols + (rng.integers(-jitter, jitter + 1) if jitter else 0)
        cy = (k // cols + 0.5) * h / rows + (rng.integers(-jitter, jitter + 1) if jitter else 0)
        small = _warp(tile, _scale_shift(s, 0, 0), (max(1, int(tw * s)), max(1, int(th * s))), tile.name)
        ox, oy = int(round(cx - small.image.shape[1] / 2)), int(round(cy - small.image.shape[0] / 2))
        _paste(frame.image, small.image, ox, oy)
        bx1, by1, bx2, by2 = small.boxes[0]
        frame.boxes.append((bx1 + ox, by1 + oy, bx2 + ox, by2 + oy))
    return frame


def _paste(canvas: np.ndarray, patch: np.ndarray, ox: int, oy: int) -> None:
    """``patch`` onto ``canvas`` with its top-left corner at (ox, oy), clipped to the canvas."""
    h, w = canvas.shape[:2]
    ph, pw = patch.shape[:2]
    x1, y1, x2, y2 = max(ox, 0), max(oy, 0), min(ox + pw, w), min(oy + ph, h)
    if x2 > x1 and y2 > y1:
        canvas[y1:y2, x1:x2] = patch[y1 - oy : y2 - oy, x1 - ox : x2 - ox]


def background(size: Tuple[int, int] = FRAME) -> np.ndarray:
    """A face-free photo (scikit-learn's china.jpg) at ``size``: a real background for pasted faces."""
    from sklearn.datasets import load_sample_images

    cv2 = _cv2()
    return cv2.resize(cv2.cvtColor(load_sample_images().images[0], cv2.COLOR_RGB2BGR), size, interpolation=cv2.INTER_AREA)


def lfw_grid(faces: bool = True, rows: int = 8, cols: int = 10, face_px: int = 40) -> LabelledFrame:
    """``rows * cols`` of scikit-image's LFW subset crops (25 px, grey; faces or non-faces) upscaled
    to ``face_px`` on a mid-grey 640x480 frame; the labels are the pasted crops."""
    import skimage.data

    cv2 = _cv2()
    crops = skimage.data.lfw_subset()[:100] if faces else skimage.data.lfw_subset()[100:]
    w, h = FRAME
    canvas = np.full((h, w, 3), 128, np.uint8)
    boxes = []
    for k in range(min(rows * cols, len(crops))):
        patch = cv2.resize((crops[k] * 255).astype(np.uint8), (face_px, face_px), interpolation=cv2.INTER_LINEAR)
        ox = int((k % cols + 0.5) * w / cols - face_px / 2)
        oy = int((k // cols + 0.5) * h / rows - face_px / 2)
        canvas[oy : oy + face_px, ox : ox + face_px] = patch[..., None]
        if faces:
            boxes.append((ox, oy, ox + face_px, oy + face_px))
    return LabelledFrame("lfw-faces" if faces else "lfw-nonfaces", canvas, boxes)


def test_sets(group: Optional[LabelledFrame]) -> Dict[str, List[LabelledFrame]]:
    """The labelled 640x480 frames, by set name (the group sets only when the group photo is there)."""
    astro = astronaut()
    photos = [astro] + ([group] if group is not None else [])
    tiles = face_tiles(photos, context=0.4)
    sets: Dict[str, List[LabelledFrame]] = {
        "photos": [fitted(p) for p in photos] + [flipped(fitted(p)) for p in photos],
        "close-up": [close_up(astro, 0, fill) for fill in (0.6, 0.8, 0.95)] + [flipped(close_up(astro, 0, 0.8))],
        "24px": [mosaic(tiles, 3, 4, 24, background(), "faces-24px", jitter=20, seed=1)],
        "grid-24": [mosaic(tiles, 4, 6, 56, background(), "grid-24")],
        "lfw-40px": [lfw_grid(True)],
    }
    if group is not None:
        sets["close-up"] += [close_up(group, k, 0.8) for k in range(len(group.boxes))]
    return sets


def match(detected: Sequence[Box], truth: Sequence[Box], min_iou: float = MATCH_IOU) -> Tuple[int, int]:
    """(labelled faces found, detections that match no label): greedy, best overlap first."""
    from ..runtime.faces.boxes import iou

    pairs = sorted(((iou(d, t), i, j) for i, d in enumerate(detected) for j, t in enumerate(truth)), reverse=True)
    used_d, used_t = set(), set()
    for overlap, i, j in pairs:
        if overlap < min_iou:
            break
        if i not in used_d and j not in used_t:
            used_d.add(i)
            used_t.add(j)
    return len(used_t), len(detected) - len(used_d)


def recall_of(detect: Callable[[np.ndarray], Sequence[Box]], frames: Sequence[LabelledFrame]) -> Tuple[int, int, int]:
    """(found, labelled, false positives) of ``detect`` over ``frames``."""
    found = total = false = 0
    for f in frames:
        hit, fp = match(detect(f.image), f.boxes)
        found, total, false = found + hit, total + len(f.boxes), false + fp
    return found, total, false
