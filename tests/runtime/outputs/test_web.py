"""The web view's server on 127.0.0.1: routes, MJPEG streams shared by many viewers, slow and leaving
viewers, binding errors, bounded shutdown."""

from __future__ import annotations

import json
import socket
import threading
import time

import cv2
import numpy as np
import pytest

from edgeclass.errors import EdgeclassError
from edgeclass.runtime.outputs.web import WebServer, bind_socket, exposure_warning, parse_address
from serve_helpers import MjpegViewer, get, wait_until

ALICE = {"track": 3, "name": "alice", "score": np.float32(0.91), "box": [10, 20, 60, 90], "confirmed": True}


def frame(i: int, size=(120, 160)) -> np.ndarray:
    """A frame that differs from every other (a moving bar on noise)."""
    img = np.random.default_rng(i).integers(0, 255, size + (3,), dtype=np.uint8)
    img[:, (i * 7) % size[1]] = 255
    return img


@pytest.fixture
def server():
    s = WebServer("127.0.0.1", 0, info={"backend": "onnxruntime CPUExecutionProvider", "model": {"arch": "resnet18", "classes": 3},
                                        "sources": ["door", "garden"]}).start()
    yield s
    s.close()


def test_status_snapshot_events_healthz(server):
    server.publish_frame(0, frame(0), [ALICE], frame=41)
    server.publish_status({"fps": 24.5, "ms": {"inference": {"p50": 7.5}}, "dropped": 2, "reconnects": 0})
    server.publish_event({"id": 1, "event": "appear", "name": "alice", "source": 0, "time": 1.0})

    status, head, body = get(server.port, "/status")
    doc = json.loads(body)
    assert status == 200 and head["content-type"].startswith("application/json")
    assert doc["backend"].startswith("onnxruntime") and doc["model"]["arch"] == "resnet18"
    assert doc["fps"] == 24.5 and doc["dropped"] == 2 and doc["uptime_s"] >= 0
    door, garden = doc["sources"]
    assert door["name"] == "door" and door["frame"] == 41 and door["stream"] == "/stream/0.mjpg"
    assert door["regions"] == [{"track": 3, "name": "alice", "score": 0.91, "box": [10, 20, 60, 90], "confirmed": True}]
    assert garden["name"] == "garden" and garden["frame"] is None

    status, head, body = get(server.port, "/snapshot/0.jpg")
    assert status == 200 and head["content-type"] == "image/jpeg"
    assert cv2.imdecode(np.frombuffer(body, np.uint8), cv2.IMREAD_COLOR).shape == (120, 160, 3)
    assert get(server.port, "/snapshot/1.jpg")[0] == 503  # known source, no frame yet
    assert get(server.port, "/snapshot/5.jpg")[0] == 404
    assert json.loads(get(server.port, "/events")[2])["events"][0]["name"] == "alice"
    assert get(server.port, "/healthz")[:3:2] == (200, b"ok\n")
    status, head, body = get(server.port, "/")
    assert status == 200 and b"/status" in body and b"<script" in body and "http" not in body.decode().split("<script")[1]


def test_jpeg_encoded_once_per_frame_for_every_viewer(server):
    viewers = [MjpegViewer(server.port, 0) for _ in range(3)]
    assert all(v.status == 200 and v.headers["content-type"].startswith("multipart/x-mixed-replace") for v in viewers)
    assert wait_until(lambda: server.hub.viewers() == 3)
    got = {i: [] for i in range(3)}

    def watch(i):
        while True:
            head, jpeg = viewers[i].part()
            got[i].append(int(head["x-frame"]))
            if got[i][-1] == 9:
                return

    threads = [threading.Thread(target=watch, args=(i,), daemon=True) for i in range(3)]
    for t in threads:
        t.start()
    for i in range(10):
        server.publish_frame(0, frame(i), [ALICE], frame=i)
        time.sleep(0.05)
    for t in threads:
        t.join(10)
    assert all(g and g[-1] == 9 and g == sorted(g) for g in got.values()), got
    sent = sum(len(g) for g in got.values())
    assert server.hub.published == 10 and server.hub.encoded <= 10 < sent  # one JPEG per frame, not per viewer
    for v in viewers:
        v.close()
    assert wait_until(lambda: server.hub.viewers() == 0), "leaving viewers must free their state"


def test_slow_viewer_skips_frames_and_never_slows_the_publisher(server):
    slow = MjpegViewer(server.port, 0, rcvbuf=4096)  # connects, then reads nothing for a while
    fast = MjpegViewer(server.port, 0)
    assert wait_until(lambda: server.hub.viewers() == 2)
    big = [frame(i, (480, 640)) for i in range(4)]  # noise: ~400 kB JPEGs
    publish_ms = []
    fast_frames = []

    def watch_fast():
        while not fast_frames or fast_frames[-1] != 59:
            fast_frames.append(int(fast.part()[0]["x-frame"]))

    t = threading.Thread(target=watch_fast, daemon=True)
    t.start()
    for i in range(60):
        t0 = time.perf_counter()
        server.publish_frame(0, big[i % 4], [], frame=i)
        publish_ms.append((time.perf_counter() - t0) * 1e3)
        time.sleep(0.02)
    t.join(15)
    assert fast_frames[-1] == 59  # the fast viewer kept up while the slow one stalled
    slow_frames = []
    while not slow_frames or slow_frames[-1] != 59:
        slow_frames.append(int(slow.part()[0]["x-frame"]))
    # what waited for the slow viewer is bounded by the socket buffers, not a queue of every frame
    assert len(slow_frames) < 30 and slow_frames == sorted(slow_frames), slow_frames
    assert np.median(publish_ms) < 20, publish_ms  # publishing is a copy, never a wait
    slow.close()
    fast.close()
    assert wait_until(lambda: server.hub.viewers() == 0)


def test_viewer_that_leaves_while_nothing_is_published_is_freed(server):
    v = MjpegViewer(server.port, 1)
    assert wait_until(lambda: server.hub.viewers() == 1)
    v.close()
    assert wait_until(lambda: server.hub.viewers() == 0, timeout=4)


def test_close_is_bounded_with_viewers_connected():
    s = WebServer("127.0.0.1", 0, info={"sources": ["cam"]}).start()
    s.publish_frame(0, frame(0), [])
    viewers = [MjpegViewer(s.port, 0) for _ in range(2)]
    viewers[0].part()
    t0 = time.monotonic()
    s.close()
    assert time.monotonic() - t0 < 3.0
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", s.port), timeout=1).close()
    for v in viewers:
        v.close()


def test_port_in_use_and_foreign_address_are_one_line_errors():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        with pytest.raises(EdgeclassError, match=f"cannot serve on 127.0.0.1:{port}: the port is in use") as e:
            WebServer("127.0.0.1", port).start()
        assert "\n" not in str(e.value)
    with pytest.raises(EdgeclassError, match="cannot serve on 192.0.2.1:8080: .*address of this machine"):
        bind_socket("192.0.2.1", 8080)  # TEST-NET-1: never an address of this machine


def test_serve_address_and_exposure_warning():
    assert parse_address("8080") == ("127.0.0.1", 8080)
    assert parse_address("0.0.0.0:9000") == ("0.0.0.0", 9000)
    assert parse_address("[::1]:8080") == ("::1", 8080)
    assert parse_address("jetson.local:80") == ("jetson.local", 80)
    for bad in ("", "http", "1.2.3.4:", ":8080", "::1:8080", "8080x", "70000"):
        with pytest.raises(EdgeclassError, match="--serve"):
            parse_address(bad)
    assert exposure_warning("127.0.0.1", None) is None and exposure_warning("localhost", None) is None
    assert exposure_warning("::1", None) is None and exposure_warning("0.0.0.0", "tok") is None
    warning = exposure_warning("0.0.0.0", None)
    assert warning.startswith("warning:") and "--serve-token" in warning and "\n" not in warning


def test_live_outputs_fail_with_one_line_and_leave_nothing_running(tmp_path):
    from edgeclass.runtime.outputs.live import LiveOutputs, ServeOptions

    before = threading.active_count()
    with pytest.raises(EdgeclassError, match="--mqtt"):
        LiveOutputs(ServeOptions(serve="127.0.0.1:0", mqtt="http://broker/x"), {})  # checked before anything binds
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        with pytest.raises(EdgeclassError, match="port is in use"):
            LiveOutputs(ServeOptions(serve=f"127.0.0.1:{taken.getsockname()[1]}", events=str(tmp_path / "e.jsonl")), {})
    (tmp_path / "file").write_text("")
    with pytest.raises(EdgeclassError, match="--snapshots"):  # fails after the server and a sink started
        LiveOutputs(ServeOptions(serve="127.0.0.1:0", events=str(tmp_path / "e.jsonl"), snapshots=str(tmp_path / "file" / "s")), {})
    assert wait_until(lambda: threading.active_count() == before), threading.enumerate()
