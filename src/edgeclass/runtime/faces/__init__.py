"""Faces in a frame: detectors (MTCNN, YuNet, Haar) behind one interface, and a tracker.

::

    from edgeclass.runtime.faces import load_detector, FaceTracker
    from edgeclass.facecrop import face_crop
    detector = load_detector("auto", max_side=640, min_face=20)   # MTCNN if set up, else Haar (with a note)
    tracker = FaceTracker()
    for k, frame in enumerate(frames):
        tracks = tracker.update(detector.detect(frame)) if k % every == 0 else tracker.predict()
        crops = [face_crop(frame, t.face, "face-aligned", 112) for t in tracks]

Never imports torch; MTCNN runs on ONNX Runtime (or OpenCV), YuNet and Haar on OpenCV.
"""

from .base import LANDMARK_NAMES, Box, Detector, DetectorOptions, Face
from .registry import AUTO, DETECTORS, available_detectors, load_detector
from .tracker import FaceTracker, IoUTracker, Track

__all__ = [
    "AUTO",
    "Box",
    "DETECTORS",
    "Detector",
    "DetectorOptions",
    "Face",
    "FaceTracker",
    "IoUTracker",
    "LANDMARK_NAMES",
    "Track",
    "available_detectors",
    "load_detector",
]
