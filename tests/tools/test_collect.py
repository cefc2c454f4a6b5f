"""`edgeclass collect`: timed bursts from a (video-file) camera into a class-per-folder dataset."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from edgeclass.cli import cli
from edgeclass.data.manifest import discover
from edgeclass.errors import EdgeclassError
from edgeclass.runtime.sources import open_source
from edgeclass.tools.collect import CollectConfig, collect


@pytest.fixture(scope="module")
def numbered_video(tmp_path_factory) -> Path:
    """30 frames at 10 fps; frame i is a flat grey 8*i, so a saved image tells which frame it was."""
    path = tmp_path_factory.mktemp("cam") / "cam.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (40, 30))
    for i in range(30):
        w.write(np.full((30, 40, 3), 8 * i, np.uint8))
    w.release()
    return path


def frame_of(path: Path) -> int:
    return int(round(cv2.imread(str(path)).mean() / 8.0))


def test_bursts_follow_countdown_and_interval_in_media_time(tmp_path, numbered_video):
    cfg = CollectConfig(out=tmp_path / "ds", classes=["alice", "bob"], count=3, interval=0.3, countdown=0.5, ext=".png")
    result = collect(open_source(str(numbered_video)), cfg, log=lambda m: None)
    assert result.complete and result.counts == {"alice": 3, "bob": 3}
    alice = sorted((tmp_path / "ds" / "alice").glob("*.png"))
    bob = sorted((tmp_path / "ds" / "bob").glob("*.png"))
    assert [frame_of(p) for p in alice] == [5, 8, 11]  # 0.5 s countdown, then one every 0.3 s
    assert [frame_of(p) for p in bob] == [17, 20, 23]  # bob's countdown starts after alice's last image
    ds = discover(tmp_path / "ds")  # ready for `edgeclass data split`
    assert ds.classes == ["alice", "bob"] and len(ds.samples) == 6


def test_second_session_never_overwrites_and_short_source_is_reported(tmp_path, numbered_video):
    runner = CliRunner()
    args = ["collect", "--source", str(numbered_video), "--out", str(tmp_path), "--classes", "a,b", "--count", "2", "--interval", "0", "--countdown", "0"]
    for _ in range(2):
        res = runner.invoke(cli, args)
        assert res.exit_code == 0, res.output
        assert "saved 4 images" in res.output and f"edgeclass data split {tmp_path}" in res.output
    assert len(list((tmp_path / "a").glob("*.jpg"))) == 4 and len(list((tmp_path / "b").glob("*.jpg"))) == 4
    res = runner.invoke(cli, args[:-6] + ["--count", "50", "--interval", "0", "--countdown", "0"])
    assert res.exit_code == 0 and "the source ended before every class had its images" in res.output


def test_face_crops(tmp_path):
    import skimage.data

    img = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    video = tmp_path / "astro.avi"
    w = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (512, 512))
    for _ in range(3):
        w.write(img)
    w.release()
    cfg = CollectConfig(out=tmp_path / "faces", classes=["eileen", "other"], count=2, interval=0, countdown=0, faces=True)
    result = collect(open_source(str(video)), cfg, log=lambda m: None)
    assert result.counts == {"eileen": 2, "other": 1}  # three frames, one face each
    crop = cv2.imread(str(result.files[0]))
    assert crop.shape[0] == crop.shape[1] and 100 < crop.shape[0] < 200  # padded square around her face


def test_bad_collect_options(tmp_path):
    with pytest.raises(EdgeclassError, match="twice"):
        CollectConfig(out=Path("x"), classes=["a", "a"]).validate()
    with pytest.raises(EdgeclassError, match="folder names"):
        CollectConfig(out=Path("x"), classes=["a", "../b"]).validate()
    with pytest.raises(EdgeclassError, match="needs the window"):
        CollectConfig(out=Path("x"), classes=["a", "b"], mode="keys").validate()
    res = CliRunner().invoke(cli, ["collect", "--source", "/dev/video99", "--out", str(tmp_path), "--classes", "a,b"])
    assert res.exit_code == 2 and "cannot open source /dev/video99" in res.output
