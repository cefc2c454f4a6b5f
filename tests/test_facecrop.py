"""The face crop (``edgeclass.facecrop``) and the card field that records it (``Preprocess.crop``).

The property recognition relies on: the aligned crop of the same face agrees wherever and however
large the face is in the frame. Bound: mean absolute difference (0-255 scale) between aligned
112 px crops of the astronaut. With exact landmarks (a known similarity transform, 0.6x-2.6x, rolled
up to 25 degrees, moved) the only difference is resampling: measured 1.5-3.2, asserted < 6. With
MTCNN's own landmarks on frames where she is 0.6x-2.2x her photo's size, rolled and moved: measured
5-10 (landmark jitter of a pixel or two), asserted < 14; aligned crops of another person differ from
hers by 57-68, asserted > 30, so the bound separates "same face" from "another face".
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from edgeclass.errors import EdgeclassError
from edgeclass.facecrop import ARCFACE_112, face_crop, padded_square, similarity_transform, template
from edgeclass.runtime.faces import Face, load_detector
from edgeclass.spec import ModelCard, Preprocess
from edgeclass.tools import face_samples as fs


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.float32) - b.astype(np.float32)).mean())


def moved(image: np.ndarray, landmarks: np.ndarray, scale: float, angle: float, shift, size=(640, 480)):
    """``image`` and its landmarks under a similarity transform: scaled and rolled about the face's
    centre, which lands ``shift`` pixels from the centre of a ``size`` frame."""
    centre = landmarks.mean(axis=0).astype(np.float64)
    m = cv2.getRotationMatrix2D((float(centre[0]), float(centre[1])), angle, scale)
    m[:, 2] += np.array(size) / 2 + np.asarray(shift, np.float64) - centre
    out = cv2.warpAffine(image, m, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    pts = (np.hstack([landmarks, np.ones((5, 1))]) @ m.T).astype(np.float32)
    return out, pts


@pytest.fixture(scope="module")
def mtcnn(mtcnn_models):
    return load_detector("mtcnn", folder=mtcnn_models, min_face=20)


@pytest.fixture(scope="module")
def astronaut_face(mtcnn):
    image = fs.astronaut().image
    (face,) = mtcnn.detect(image)
    return image, face


def test_similarity_transform_recovers_a_known_one_and_maps_the_template_onto_itself():
    rng = np.random.default_rng(0)
    src = rng.uniform(0, 200, (5, 2))
    angle, scale, t = np.deg2rad(20), 1.7, np.array([13.0, -4.0])
    r = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    m = similarity_transform(src, src @ r.T + t)
    np.testing.assert_allclose(m[:, :2], r, atol=1e-9)
    np.testing.assert_allclose(m[:, 2], t, atol=1e-9)
    np.testing.assert_allclose(similarity_transform(ARCFACE_112, template(224)), [[2, 0, 0], [0, 2, 0]], atol=1e-9)
    with pytest.raises(EdgeclassError):
        similarity_transform(np.ones((5, 2)), ARCFACE_112)


def test_aligned_crop_puts_the_landmarks_on_the_template(astronaut_face):
    image, face = astronaut_face
    for size in (112, 160):
        crop = face_crop(image, face, "face-aligned", size)
        assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
        m = similarity_transform(face.landmarks, template(size))
        mapped = np.hstack([face.landmarks, np.ones((5, 1))]) @ m.T
        assert np.abs(mapped - template(size)).max() < 0.08 * size  # five points, four degrees of freedom


def test_aligned_crops_agree_under_exact_similarity_transforms(astronaut_face):
    """Exact landmarks: only resampling differs (including the area pre-shrink of large faces)."""
    image, face = astronaut_face
    reference = face_crop(image, face, "face-aligned", 112)
    for scale, angle, shift in [(0.6, 0, (0, 0)), (1.0, 25, (-120, 40)), (2.2, -15, (30, 30)), (2.6, 10, (0, 0))]:
        frame, pts = moved(image, face.landmarks, scale, angle, shift)
        crop = face_crop(frame, Face(face.box, face.score, pts), "face-aligned", 112)
        assert mad(crop, reference) < 6, (scale, angle, shift, mad(crop, reference))


def test_aligned_crops_of_detected_faces_agree_at_any_scale_and_place(mtcnn, astronaut_face, group_frame):
    """The astronaut detected at 0.6x-2.2x of her photo's size, shifted and rolled: the crops from
    MTCNN's landmarks agree with each other far better than with another person's crop."""
    image, face = astronaut_face
    crops = []
    for scale, angle, shift in [(0.6, 0, (-150, -60)), (1.0, 0, (0, 0)), (1.4, 12, (60, 30)), (2.2, -8, (-20, 40))]:
        frame, _ = moved(image, face.landmarks, scale, angle, shift)
        found = [f for f in mtcnn.detect(frame) if f.landmarks is not None]
        assert len(found) == 1, (scale, angle, shift)
        crops.append(face_crop(frame, found[0], "face-aligned", 112))
    worst = max(mad(a, b) for i, a in enumerate(crops) for b in crops[i + 1 :])
    assert worst < 14, worst
    group = fs.fitted(group_frame).image
    strangers = [face_crop(group, other, "face-aligned", 112) for other in mtcnn.detect(group)]
    assert len(strangers) == 6 and min(mad(c, s) for c in crops for s in strangers) > 30


def test_face_square_and_full_crops(astronaut_face):
    image, face = astronaut_face
    h, w = image.shape[:2]
    square = face_crop(image, face, "face-square", 96)
    x1, y1, x2, y2 = padded_square(face.box, 0.25, w, h)
    expected = cv2.resize(image[y1:y2, x1:x2], (96, 96), interpolation=cv2.INTER_AREA)
    assert square.shape == (96, 96, 3) and mad(square, expected) == 0
    assert face_crop(image, face, "full", 96) is image
    box = padded_square((90, 0, 100, 20), 0.25, 100, 100)  # near a corner: shifted inside the frame
    assert box[2] <= 100 and box[1] >= 0 and box[2] - box[0] == box[3] - box[1] == 30


def test_face_crop_refuses_what_it_cannot_do(astronaut_face):
    image, face = astronaut_face
    with pytest.raises(EdgeclassError) as e:
        face_crop(image, Face(face.box, 1.0, None), "face-aligned", 112)  # a Haar face: no landmarks
    assert "landmarks" in str(e.value)
    with pytest.raises(EdgeclassError):
        face_crop(image, face, "face-sideways", 112)
    with pytest.raises(EdgeclassError):
        face_crop(image, face, "face-square", 4)


def test_the_card_records_the_crop_and_old_cards_read_as_full():
    card = ModelCard(classes=["alice", "bob"], arch="resnet18", preprocess=Preprocess.for_size(112, crop="face-aligned"))
    again = ModelCard.from_json(card.to_json())
    assert again.preprocess.crop == "face-aligned" and again == card
    old = card.to_dict()
    del old["preprocess"]["crop"]  # a card written before the field existed
    assert ModelCard.from_dict(old).preprocess.crop == "full"
    bad = card.to_dict()
    bad["preprocess"]["crop"] = "face-sideways"
    with pytest.raises(EdgeclassError) as e:
        ModelCard.from_dict(bad)
    assert "face-aligned" in str(e.value)
