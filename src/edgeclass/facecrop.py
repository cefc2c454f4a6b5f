"""The face crop a classifier sees, one function for collection, training and the runtime:
``face_crop(image, face, kind, size)`` with ``kind`` one of ``CROP_KINDS`` (the model card's
``Preprocess.crop``):

- ``full``: the whole frame (the usual resize/crop of ``edgeclass.preprocess`` follows);
- ``face-square``: a square around the face box, grown by ``pad`` of its size on each side, kept
  inside the frame, resized to ``size`` x ``size``;
- ``face-aligned``: the face warped by the similarity transform (rotation, uniform scale, shift)
  that best maps its five landmarks onto the ArcFace template, ``size`` x ``size``. Eyes, nose and
  mouth land on the same pixels whatever the face's position, size and roll in the frame — what
  makes recognition stable. Needs landmarks (MTCNN, YuNet; not the Haar cascade).

numpy + OpenCV only. ``face`` is anything with ``.box`` (x1, y1, x2, y2) and ``.landmarks`` ((5, 2)
or None), e.g. ``edgeclass.runtime.faces.Face``; landmark order: image-left eye, image-right eye,
nose, image-left mouth corner, image-right mouth corner.
"""

from __future__ import annotations

from typing import Any, Tuple

import numpy as np

from .errors import EdgeclassError
from .spec import CROPS as CROP_KINDS

Box = Tuple[int, int, int, int]

# ArcFace's canonical five points in a 112 x 112 crop (x, y), in the landmark order above
ARCFACE_112 = np.array(
    [[38.2946, 51.6963], [73.5318, 51.5014], [56.0252, 71.7366], [41.5493, 92.3655], [70.7299, 92.2041]],
    dtype=np.float64,
)
DEFAULT_PAD = 0.25


def check_crop_kind(kind: str) -> str:
    if kind not in CROP_KINDS:
        raise EdgeclassError(f"unknown face crop {kind!r} (choose from {', '.join(CROP_KINDS)})")
    return kind


def padded_square(box: Box, pad: float, width: int, height: int) -> Box:
    """A square around ``box`` grown by ``pad`` (fraction of its size) on each side, inside the frame:
    the classifier sees the whole head with a little context, undistorted."""
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2.0, (y1 + y2) / 2.0
    side = max(x2 - x1, y2 - y1) * (1.0 + 2.0 * pad)
    side = min(side, width, height)
    nx1 = int(round(min(max(cx - side / 2.0, 0.0), width - side)))
    ny1 = int(round(min(max(cy - side / 2.0, 0.0), height - side)))
    s = int(round(side))
    return (nx1, ny1, min(width, nx1 + s), min(height, ny1 + s))


def crop(image: np.ndarray, box: Box) -> np.ndarray:
    x1, y1, x2, y2 = box
    return image[y1:y2, x1:x2]


def template(size: int) -> np.ndarray:
    """The ArcFace five-point template scaled to a ``size`` x ``size`` crop."""
    return ARCFACE_112 * (size / 112.0)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """The 2x3 matrix of the similarity transform that maps ``src`` points onto ``dst`` points with
    the least squared error (Umeyama 1991: rotation, uniform scale, translation; no reflection)."""
    src = np.asarray(src, np.float64).reshape(-1, 2)
    dst = np.asarray(dst, np.float64).reshape(-1, 2)
    mu_s, mu_d = src.mean(axis=0), dst.mean(axis=0)
    s, d = src - mu_s, dst - mu_d
    var_s = (s**2).sum() / len(src)
    if var_s <= 1e-12:
        raise EdgeclassError("face landmarks coincide; cannot align the face")
    u, sigma, vt = np.linalg.svd(d.T @ s / len(src))
    sign = np.ones(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1] = -1.0
    rotation = u @ np.diag(sign) @ vt
    scale = float((sigma * sign).sum() / var_s)
    matrix = np.empty((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = mu_d - scale * rotation @ mu_s
    return matrix


def aligned(image: np.ndarray, landmarks: np.ndarray, size: int) -> np.ndarray:
    """``size`` x ``size`` crop with the five ``landmarks`` mapped onto the ArcFace template.

    A face much larger than the crop is first shrunk with an area filter (only the region the crop
    covers), so the warp does not alias; outside the frame is black."""
    import cv2

    matrix = similarity_transform(landmarks, template(size))
    shrink = 1.0 / max(abs(np.linalg.det(matrix[:, :2])) ** 0.5, 1e-9)  # frame pixels per crop pixel
    if shrink > 1.5:
        image, matrix = _pre_shrunk(cv2, image, matrix, size, shrink)
    return cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _pre_shrunk(cv2, image: np.ndarray, matrix: np.ndarray, size: int, shrink: float):
    """(the frame region under the crop, area-shrunk by ``shrink``; the warp matrix for it)."""
    inverse = cv2.invertAffineTransform(matrix)
    corners = np.array([[0, 0, 1], [size, 0, 1], [0, size, 1], [size, size, 1]], np.float64) @ inverse.T
    h, w = image.shape[:2]
    x1, y1 = (int(max(np.floor(corners[:, k].min()) - 2, 0)) for k in (0, 1))
    x2, y2 = int(min(np.ceil(corners[:, 0].max()) + 2, w)), int(min(np.ceil(corners[:, 1].max()) + 2, h))
    if x2 - x1 < 2 or y2 - y1 < 2:
        return image, matrix
    region = image[y1:y2, x1:x2]
    rw, rh = max(1, int(round((x2 - x1) / shrink))), max(1, int(round((y2 - y1) / shrink)))
    small = cv2.resize(region, (rw, rh), interpolation=cv2.INTER_AREA)
    # the centre of small pixel p is frame pixel (p + 0.5) * step - 0.5 + offset (as cv2.resize samples)
    sx, sy = (x2 - x1) / rw, (y2 - y1) / rh
    up = np.array([[sx, 0, x1 + 0.5 * sx - 0.5], [0, sy, y1 + 0.5 * sy - 0.5], [0, 0, 1]], np.float64)
    return small, matrix @ up


def face_crop(image: np.ndarray, face: Any, kind: str, size: int, pad: float = DEFAULT_PAD) -> np.ndarray:
    """What the classifier sees of ``face`` in ``image`` (see the module docstring)."""
    import cv2

    check_crop_kind(kind)
    if kind == "full":
        return image
    if size < 8:
        raise EdgeclassError(f"face crop size {size} is too small (use at least 8)")
    if kind == "face-aligned":
        if getattr(face, "landmarks", None) is None:
            raise EdgeclassError("face-aligned crops need landmarks; use a detector that gives them (mtcnn, yunet), not haar")
        return aligned(image, face.landmarks, size)
    h, w = image.shape[:2]
    region = crop(image, padded_square(face.box, pad, w, h))
    interp = cv2.INTER_AREA if region.shape[0] > size else cv2.INTER_LINEAR
    return cv2.resize(region, (size, size), interpolation=interp)
