"""Following faces between detections: stable ids, and a motion model so that with detection every N
frames the box (and the landmarks, hence the aligned crop) stays on a moving face."""

from __future__ import annotations

import numpy as np

from edgeclass.runtime.faces import Face, FaceTracker
from edgeclass.runtime.faces.boxes import iou


def face_at(x: float, y: float, side: float = 60.0) -> Face:
    box = (int(round(x)), int(round(y)), int(round(x + side)), int(round(y + side)))
    eyes = [[x + 0.3 * side, y + 0.4 * side], [x + 0.7 * side, y + 0.4 * side]]
    rest = [[x + 0.5 * side, y + 0.6 * side], [x + 0.35 * side, y + 0.8 * side], [x + 0.65 * side, y + 0.8 * side]]
    return Face(box, 0.99, np.array(eyes + rest, np.float32))


def test_with_detection_every_4_frames_the_motion_model_keeps_the_box_on_the_face():
    """A face crossing the frame at 12 px/frame (a person walking past a webcam): detected on every
    4th frame only. The predicted boxes stay on it; a tracker that holds boxes still falls behind
    (by frame 3 after a detection it overlaps the face less than half)."""
    speed, every = 12.0, 4
    tracker = FaceTracker()
    ids, overlaps, still = set(), [], []
    last_detected = None
    for k in range(40):
        truth = face_at(20 + speed * k, 100 + 2 * k)
        if k % every == 0:
            (track,) = tracker.update([truth], size=(640, 480))
            last_detected = truth
        else:
            (track,) = tracker.predict(size=(640, 480))
            if k > every:  # velocity is known after the second detection
                overlaps.append(iou(track.box, truth.box))
                still.append(iou(last_detected.box, truth.box))
                assert np.abs(track.face.landmarks - truth.landmarks).max() < 3.0
        ids.add(track.id)
    assert len(ids) == 1 and tracker.alive_ids() == [track.id]
    assert min(overlaps) > 0.85, min(overlaps)
    assert min(still) < 0.5  # what the motion model saves


def test_a_missed_detection_coasts_and_a_new_face_gets_a_new_id():
    tracker = FaceTracker(max_missed=2)
    (first,) = tracker.update([face_at(100, 100)])
    tracker.update([face_at(110, 100)])
    tracker.update([])  # missed once: kept, moving slower
    (moved,) = tracker.tracks
    assert moved.id == first.id and moved.missed == 1 and 115 <= moved.box[0] <= 125
    (again, other) = tracker.update([face_at(125, 100), face_at(400, 300)])
    assert again.id == first.id and other.id != first.id and again.missed == 0


def test_predicted_boxes_stay_inside_the_frame():
    tracker = FaceTracker()
    tracker.update([face_at(560, 100)], size=(640, 480))
    tracker.update([face_at(575, 100)], size=(640, 480))
    for _ in range(10):
        (track,) = tracker.predict(size=(640, 480))
        x1, y1, x2, y2 = track.box
        assert 0 <= x1 < x2 <= 640 and 0 <= y1 < y2 <= 480
