"""MTCNN (Zhang et al. 2016) on three ONNX files, with the cascade in numpy.

PNet scans an image pyramid (one level per factor 0.709, the first one maps ``min_face`` to PNet's
12 px window) and proposes boxes; RNet (24 px crops) rejects most of them and refines the rest; ONet
(48 px crops) gives the final box, score and five landmarks. Between stages: non-maximum suppression,
box regression, squaring. The ONNX files come from ``edgeclass.export.mtcnn.convert_mtcnn`` (weights
of the facenet-pytorch wheel, MIT); this module never needs torch.

The smallest face it can find is PNet's 12 px window at the detection resolution (``min_face``
below that is raised to it; the frame is never enlarged). ONet's landmark order is the package's convention (``base``): image-left eye, image-right eye, nose,
image-left mouth corner, image-right mouth corner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from ...errors import EdgeclassError
from ...facemodels import FACE_MODEL_KEY, MTCNN_FILES, MTCNN_OUTPUTS
from .base import Detector, DetectorOptions
from .boxes import nms, patches, regressed, squared
from .netrunner import NetRunner

PNET_WINDOW, PNET_STRIDE = 12, 2
# one probe input per stage and the output shapes an MTCNN stage gives for it
PROBES = {
    "pnet": ((1, 3, 24, 24), [(1, 1, 7, 7), (1, 4, 7, 7)]),
    "rnet": ((1, 3, 24, 24), [(1, 1), (1, 4)]),
    "onet": ((1, 3, 48, 48), [(1, 1), (1, 4), (1, 10)]),
}


@dataclass(frozen=True)
class MtcnnSettings:
    """``thresholds``: PNet and RNet face probabilities that pass a candidate on (ONet's is the
    detector's score threshold); ``pyramid``: the scale step between pyramid levels;
    ``max_candidates``: at most this many PNet proposals go to RNet (best first)."""

    thresholds: Tuple[float, float] = (0.6, 0.7)
    pyramid: float = 0.709
    max_candidates: int = 1000
    engine: str = "onnxruntime"
    threads: Optional[int] = None


def _normalised(rgb_u8: np.ndarray) -> np.ndarray:
    """(..., H, W, 3) uint8 RGB -> (..., 3, H, W) float32, (x - 127.5) / 128 (what the weights expect)."""
    x = rgb_u8.astype(np.float32)
    x -= 127.5
    x *= 0.0078125
    return np.moveaxis(x, -1, -3)


def _stage(folder: Path, stage: str, settings: MtcnnSettings) -> NetRunner:
    path = folder / MTCNN_FILES[stage]
    runner = NetRunner(path, settings.engine, settings.threads, what=f"MTCNN {stage}", outputs=MTCNN_OUTPUTS[stage])
    tag = runner.metadata.get(FACE_MODEL_KEY)
    if tag is not None and tag != f"mtcnn-{stage}":
        raise EdgeclassError(f"{path} is the face model {tag}, not mtcnn-{stage}")
    shape, expected = PROBES[stage]
    try:
        got = [tuple(o.shape) for o in runner(np.zeros(shape, np.float32))]
    except Exception as e:  # noqa: BLE001 - either engine raises its own types for a model that does not fit
        raise EdgeclassError(f"{path} is not an MTCNN {stage} model (it fails on a {shape} input: {type(e).__name__})") from None
    if got != expected:
        raise EdgeclassError(f"{path} is not an MTCNN {stage} model (outputs {got}, expected {expected})")
    return runner


class MTCNN(Detector):
    name = "mtcnn"
    has_landmarks = True
    default_score = 0.7

    def __init__(self, folder: Path, options: Optional[DetectorOptions] = None, settings: Optional[MtcnnSettings] = None):
        super().__init__(options)
        self.settings = settings or MtcnnSettings()
        self.folder = Path(folder)
        self.pnet, self.rnet, self.onet = (_stage(self.folder, s, self.settings) for s in ("pnet", "rnet", "onet"))

    def describe(self) -> str:
        return f"mtcnn ({self.settings.engine})"

    def _detect(self, image_bgr: np.ndarray, min_face: float):
        rgb = np.ascontiguousarray(image_bgr[..., ::-1])
        boxes, scores = self._proposals(rgb, max(float(min_face), float(PNET_WINDOW)))
        if len(boxes):
            boxes, scores = self._refine(rgb, boxes)
        if not len(boxes):
            return np.zeros((0, 4)), np.zeros(0), np.zeros((0, 5, 2), np.float32)
        return self._output(rgb, boxes)

    def pyramid_scales(self, height: int, width: int, min_face: float) -> list:
        """The PNet pyramid: the first level maps ``min_face`` to the 12 px window, each next one is
        ``pyramid`` times smaller, down to a shorter side of 12 px."""
        scales, s = [], PNET_WINDOW / min_face
        while min(height, width) * s >= PNET_WINDOW:
            scales.append(s)
            s *= self.settings.pyramid
        return scales

    def _proposals(self, rgb: np.ndarray, min_face: float) -> Tuple[np.ndarray, np.ndarray]:
        import cv2

        h, w = rgb.shape[:2]
        found = []
        for s in self.pyramid_scales(h, w, min_face):
            hs, ws = int(math.ceil(h * s)), int(math.ceil(w * s))
            level = rgb if (hs, ws) == (h, w) else cv2.resize(rgb, (ws, hs), interpolation=cv2.INTER_AREA)
            prob, reg = self.pnet(_normalised(level)[None])
            ys, xs = np.nonzero(prob[0, 0] > self.settings.thresholds[0])
            if not len(ys):
                continue
            sx, sy = ws / w, hs / h
            cells = np.stack([xs * PNET_STRIDE / sx, ys * PNET_STRIDE / sy,
                              (xs * PNET_STRIDE + PNET_WINDOW) / sx, (ys * PNET_STRIDE + PNET_WINDOW) / sy], axis=1)
            score = prob[0, 0, ys, xs]
            keep = nms(cells, score, 0.5)
            found.append((cells[keep], score[keep], reg[0, :, ys[keep], xs[keep]].reshape(-1, 4)))
        if not found:
            return np.zeros((0, 4)), np.zeros(0)
        cells, scores, reg = (np.concatenate(parts) for parts in zip(*found))
        keep = nms(cells, scores, 0.7)[: self.settings.max_candidates]
        boxes = regressed(cells[keep], reg[keep])
        return squared(boxes), scores[keep]

    def _refine(self, rgb: np.ndarray, boxes: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
        prob, reg = self.rnet(_normalised(patches(rgb, boxes, 24)))
        ok = prob[:, 0] > self.settings.thresholds[1]
        boxes, scores, reg = boxes[ok], prob[ok, 0], reg[ok]
        keep = nms(boxes, scores, 0.7)
        return squared(regressed(boxes[keep], reg[keep])), scores[keep]

    def _output(self, rgb: np.ndarray, boxes: np.ndarray):
        prob, reg, marks = self.onet(_normalised(patches(rgb, boxes, 48)))
        ok = prob[:, 0] > self.score_threshold
        boxes, scores, reg, marks = boxes[ok], prob[ok, 0], reg[ok], marks[ok]
        w = (boxes[:, 2] - boxes[:, 0])[:, None]
        h = (boxes[:, 3] - boxes[:, 1])[:, None]
        points = np.stack([boxes[:, :1] + w * marks[:, :5], boxes[:, 1:2] + h * marks[:, 5:]], axis=2)
        boxes = regressed(boxes, reg)
        keep = nms(boxes, scores, 0.7, mode="min")
        return boxes[keep], scores[keep], points[keep].astype(np.float32)
