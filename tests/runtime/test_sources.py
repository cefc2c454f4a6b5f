"""Sources: every frame of a file, newest frame of a live source, reconnect after a drop."""

from __future__ import annotations

import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edgeclass.errors import EdgeclassError
from edgeclass.runtime.sources import CaptureOptions, LiveSource, csi_pipeline, open_source, parse_source


def numbered_video(path: Path, n: int, size: int = 48, fourcc: str = "MJPG", fps: float = 25.0) -> Path:
    """Frame i is a flat grey level 12*i (i < 21), so a decoded frame tells which one it is."""
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), fps, (size, size))
    assert w.isOpened()
    for i in range(n):
        w.write(np.full((size, size, 3), (12 * i) % 252, np.uint8))
    w.release()
    return path


def level(img: np.ndarray) -> int:
    return int(round(float(img.mean()) / 12.0))


@pytest.mark.parametrize("fourcc,ext", [("MJPG", "avi"), ("mp4v", "mp4")])
def test_video_file_gives_every_frame_then_ends(tmp_path, fourcc, ext):
    video = numbered_video(tmp_path / f"v.{ext}", 20, fourcc=fourcc)
    src = open_source(str(video))
    assert not src.live and src.fps == pytest.approx(25.0)
    frames = list(src.frames())
    assert [f.index for f in frames] == list(range(20))
    assert [level(f.image) for f in frames] == list(range(20))
    assert frames[3].t == pytest.approx(3 / 25.0)
    assert src.ended and src.read() is None


def test_stride_resize_and_flip(tmp_path):
    video = numbered_video(tmp_path / "v.avi", 20)
    src = open_source(str(video), stride=3, width=32, height=16)
    frames = list(src.frames())
    assert [f.index for f in frames] == [0, 3, 6, 9, 12, 15, 18]
    assert [level(f.image) for f in frames] == [0, 3, 6, 9, 12, 15, 18]
    assert frames[0].image.shape == (16, 32, 3)
    img = np.zeros((10, 20, 3), np.uint8)
    img[:, :5] = 255
    cv2.imwrite(str(tmp_path / "left.png"), img)
    flipped = next(iter(open_source(str(tmp_path / "left.png"), flip="horizontal")))
    assert flipped[:, -5:].min() == 255 and flipped[:, :5].max() == 0


def test_image_folder_and_glob(tmp_path):
    for i in range(4):
        cv2.imwrite(str(tmp_path / f"img_{i}.png"), np.full((8, 12), 40 * i, np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    (tmp_path / "broken.jpg").write_bytes(b"not a jpeg")
    src = open_source(str(tmp_path))
    images = list(src)
    assert len(images) == 4 and src.skipped == 1
    assert images[0].shape == (8, 12, 3)  # grey files become BGR frames
    assert [int(im.mean()) for im in images] == [0, 40, 80, 120]
    assert len(list(open_source(str(tmp_path / "img_[12].png")))) == 2


def test_source_strings_are_classified(tmp_path):
    assert parse_source("0").kind == "camera" and parse_source("0").target == 0
    assert parse_source("/dev/video2").kind == "camera"
    assert (parse_source("csi://1").kind, parse_source("csi://1").target) == ("csi", 1)
    assert parse_source("rtsp://cam.local/stream").kind == "stream"
    assert parse_source("http://host:8080/video").live
    assert parse_source("videotestsrc ! videoconvert ! appsink").kind == "gstreamer"
    assert parse_source(str(tmp_path)).kind == "images"
    with pytest.raises(EdgeclassError, match="does not exist"):
        parse_source(str(tmp_path / "missing.mp4"))
    with pytest.raises(EdgeclassError, match="csi://N"):
        parse_source("csi://front")
    p = csi_pipeline(0, CaptureOptions(width=1280, height=720, fps=30, flip="rotate-180"))
    assert p.startswith("nvarguscamerasrc sensor-id=0 ! ") and "flip-method=2" in p and p.endswith("appsink drop=true max-buffers=1 sync=false")


def test_source_that_never_opens_is_a_clear_error(tmp_path):
    with pytest.raises(EdgeclassError, match="cannot open source /dev/video99"):
        open_source("/dev/video99")
    (tmp_path / "fake.mp4").write_bytes(b"\x00" * 100)
    with pytest.raises(EdgeclassError, match="cannot open video file"):
        open_source(str(tmp_path / "fake.mp4"))


class DropsAfter:
    """A real file-backed OpenCV capture that fails after ``n`` frames like an unplugged camera:
    ``mode='false'`` returns (False, None), ``mode='raise'`` raises."""

    def __init__(self, path: Path, n: int, mode: str):
        self.cap = cv2.VideoCapture(str(path))
        self.n, self.mode = n, mode

    def isOpened(self) -> bool:
        return self.cap.isOpened()

    def get(self, prop):
        return self.cap.get(prop)

    def read(self):
        if self.n <= 0:
            if self.mode == "raise":
                raise OSError("device unplugged")
            return False, None
        self.n -= 1
        time.sleep(0.002)  # a camera delivers frames over time
        return self.cap.read()

    def release(self) -> None:
        self.cap.release()


@pytest.mark.parametrize("mode", ["false", "raise"])
def test_live_source_reconnects_after_a_drop_and_goes_on(tmp_path, mode):
    video = numbered_video(tmp_path / "v.avi", 10)
    opens = []

    def opener():
        opens.append(time.perf_counter())
        return DropsAfter(video, 6, mode)

    src = LiveSource("flaky", opener, CaptureOptions(backoff_start=0.02, backoff_max=0.05))
    got = []
    deadline = time.perf_counter() + 10
    while len(got) < 15 and time.perf_counter() < deadline:
        f = src.read(timeout=1.0)
        if f is not None:
            got.append(f)
    src.close()
    assert len(got) == 15, "the run stopped instead of reconnecting"
    assert src.reconnects >= 2 and len(opens) >= 3
    # frame indices keep increasing across reconnects; each reopened capture starts again at its first frame
    assert all(b.index > a.index for a, b in zip(got, got[1:]))
    assert sum(level(f.image) == 0 for f in got) >= 2


def test_live_source_without_reconnect_ends(tmp_path):
    video = numbered_video(tmp_path / "v.avi", 5)
    src = LiveSource("once", lambda: cv2.VideoCapture(str(video)), CaptureOptions(reconnect=False))
    frames = list(src.frames())
    assert src.ended and 1 <= len(frames) <= 5


def test_live_source_keeps_only_the_newest_frame(tmp_path):
    """A slow consumer gets fresh frames (small age), and the skipped ones are counted as dropped."""
    video = numbered_video(tmp_path / "v.avi", 200)
    src = LiveSource("fast", lambda: DropsAfter(video, 200, "false"), CaptureOptions(reconnect=False))
    seen = []
    for _ in range(5):
        time.sleep(0.05)  # slower than the capture
        f = src.read(timeout=1.0)
        assert f is not None
        seen.append((f.index, time.perf_counter() - f.grabbed))
    src.close()
    assert src.dropped >= 10
    assert all(b[0] - a[0] >= 5 for a, b in zip(seen, seen[1:])), seen
    assert max(age for _, age in seen) < 0.04  # fresh: far younger than the 50 ms the consumer slept


def test_recognition_run_goes_on_through_a_drop(tmp_path, exported_run):
    """The whole loop on a live source that drops twice: every step still gets a frame and a label."""
    from edgeclass.runtime import Classifier, Pipeline, PipelineConfig

    video = numbered_video(tmp_path / "v.avi", 10, size=32)
    src = LiveSource("flaky", lambda: DropsAfter(video, 6, "raise"), CaptureOptions(backoff_start=0.02, backoff_max=0.05))
    pipe = Pipeline(Classifier(exported_run / "weights" / "model.onnx"), [src], PipelineConfig(max_frames=15))
    steps = list(pipe)
    pipe.close()
    assert len(steps) == 15 and all(len(s.results) == 1 and s.results[0].predictions[0].label for s in steps)
    summary = pipe.summary()
    assert summary.reconnects >= 2 and summary.frames == 15


def test_bad_files_in_an_image_folder_are_skipped_counted_and_named_never_the_end(tmp_path):
    import bad_images as B

    for i in range(3):
        cv2.imwrite(str(tmp_path / f"frame_{i}.png"), np.full((20, 30, 3), 40 * i, np.uint8))
    bad = [k for k in B.kinds() if k.status != "ok" and k.name != "folder.jpg"]
    for kind in bad:
        B.write(tmp_path, kind)
    src = open_source(str(tmp_path))
    frames = list(src.frames())
    assert [Path(f.source).name for f in frames] == ["frame_0.png", "frame_1.png", "frame_2.png"]
    assert src.ended and src.error is None
    assert src.skipped == len(bad) == sum(src.skip_reasons.values())
    assert src.skip_reasons["too large"] == 3 and src.skip_reasons["too small"] == 2 and src.skip_reasons["truncated"] == 12
    assert sorted(Path(t.split(":")[0]).name for t in src.skipped_files) == sorted(k.name for k in bad)


def test_a_single_bad_image_as_the_whole_source_is_an_error(tmp_path):
    import bad_images as B

    for kind in (k for k in B.kinds() if k.status != "ok" and k.name != "folder.jpg"):
        path = B.write(tmp_path, kind)
        with pytest.raises(EdgeclassError, match=f"{kind.name}: {kind.reason}") as e:
            open_source(str(path))
        assert "\n" not in str(e.value)
