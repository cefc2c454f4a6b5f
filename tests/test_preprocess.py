import json

import numpy as np
import pytest

from edgeclass.errors import EdgeclassError, UnreadableImage
from edgeclass.preprocess import decode_image, preprocess_bgr, preprocess_rgb, read_image, resize_and_crop
from edgeclass.spec import ModelCard, Preprocess


def test_card_json_roundtrip_keeps_every_field():
    card = ModelCard(
        classes=["alice", "bob", "carol"],
        arch="resnet18",
        preprocess=Preprocess.for_size(96),
        threshold=0.42,
        provenance={"dataset_sha256": "ab" * 32},
    )
    back = ModelCard.from_json(card.to_json())
    assert back == card
    assert back.preprocess.resize == round(96 / 0.875)


@pytest.mark.parametrize(
    "bad",
    ['{"classes": ["a"], "arch": "x"}', "[]", "not json", '{"classes": ["a", "a"], "arch": "x"}', '{"arch": "x"}'],
)
def test_bad_cards_are_rejected_with_one_line(bad):
    with pytest.raises(EdgeclassError) as e:
        ModelCard.from_json(bad)
    assert "\n" not in str(e.value)


def test_shorter_side_resize_then_centre_crop():
    pp = Preprocess(imgsz=4, resize=4)
    img = np.zeros((8, 16, 3), np.uint8)
    img[:, 6:10] = 255  # a vertical bar in the middle of a 2:1 image
    out = resize_and_crop(img, pp)
    assert out.shape == (4, 4, 3)
    x = preprocess_rgb(img, pp)
    assert x.shape == (3, 4, 4) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert x[:, :, 1:3].mean() > 0.9 and x[:, :, 0].mean() < 0.1  # centre kept, sides dark


def test_bgr_frames_are_converted_to_rgb():
    pp = Preprocess(imgsz=8, resize=8)
    bgr = np.zeros((8, 8, 3), np.uint8)
    bgr[..., 2] = 255  # pure red in OpenCV's BGR order
    x = preprocess_bgr(bgr, pp)
    assert x[0].min() == 1.0 and x[1:].max() == 0.0


def test_unreadable_files_raise_unreadable_image(tmp_path):
    p = tmp_path / "broken.jpg"
    p.write_bytes(b"\xff\xd8 definitely not a jpeg")
    with pytest.raises(UnreadableImage):
        read_image(p)
    with pytest.raises(UnreadableImage):
        decode_image(b"")
    with pytest.raises(UnreadableImage):
        read_image(tmp_path / "missing.png")


def test_shrinking_is_anti_aliased_and_fast_paths_keep_the_shape():
    # a 1-pixel checkerboard shrunk 3x must average to grey, not alias into stripes
    board = ((np.indices((672, 672)).sum(axis=0) % 2) * 255).astype(np.uint8)
    rgb = np.repeat(board[:, :, None], 3, axis=2)
    out = resize_and_crop(rgb, Preprocess(imgsz=224, resize=224, mode="stretch"))
    assert out.shape == (224, 224, 3)
    # (a 3x3 box over the board gives 4/9 or 5/9 white; plain bilinear sampling gives 0 or 255)
    assert 100 <= int(out.min()) and int(out.max()) <= 155
    # odd sizes (whole-factor box filter on a cropped frame, then bilinear) still give imgsz x imgsz
    for h, w in ((1081, 1919), (481, 641), (37, 300)):
        img = np.zeros((h, w, 3), np.uint8)
        assert preprocess_rgb(img, Preprocess.for_size(32)).shape == (3, 32, 32)
