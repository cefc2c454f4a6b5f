"""`--weights imagenet` downloads: tested against an HTTP server on 127.0.0.1 serving a small real state
dict named with its own sha256 prefix, the way torchvision names its files. Nothing here reaches the internet."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import signal
import socket
import threading
from pathlib import Path

import pytest
import torch

from edgeclass.errors import EdgeclassError
from edgeclass.train.weights import MIRROR_ENV, WeightsFile, download_weights, imagenet_preprocess, imagenet_weights_file


def _state_bytes() -> bytes:
    buf = io.BytesIO()
    torch.save({"conv.weight": torch.arange(600, dtype=torch.float32).view(6, 100), "conv.bias": torch.ones(6)}, buf)
    return buf.getvalue()


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict = {}  # path -> (bytes, mode): "ok", "cut" (half, then close), "stall" (half, then wait)
    release = threading.Event()

    def do_GET(self):  # noqa: N802 (http.server's name)
        if self.path not in self.files:
            self.send_error(404)
            return
        data, mode = self.files[self.path]
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if mode == "ok":
            self.wfile.write(data)
            return
        self.wfile.write(data[: len(data) // 2])
        self.wfile.flush()
        if mode == "stall":
            self.release.wait(10)  # bounded: the test interrupts the client long before
        self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    _Handler.files = {}
    _Handler.release = threading.Event()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield httpd, f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        _Handler.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def _serve(httpd_url, name: str, data: bytes, mode: str = "ok") -> str:
    _Handler.files[f"/models/{name}"] = (data, mode)
    return f"{httpd_url}/models/{name}"


def _named(data: bytes) -> str:
    return f"tiny-{hashlib.sha256(data).hexdigest()[:8]}.pth"


def _leftovers(folder: Path):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_a_download_lands_whole_with_its_hash_checked_and_loads(server, tmp_path):
    _, url = server
    data = _state_bytes()
    name = _named(data)
    wf = WeightsFile("tiny", name, _serve(url, name, data), tmp_path / "hub" / "checkpoints" / name)
    assert download_weights(wf, progress=False) == wf.path
    assert wf.path.read_bytes() == data and _leftovers(wf.path.parent) == [name]
    state = torch.load(wf.path, weights_only=True)
    assert torch.equal(state["conv.bias"], torch.ones(6))


def test_a_file_with_the_wrong_hash_is_refused_and_nothing_is_left(server, tmp_path):
    _, url = server
    data = _state_bytes()
    name = "tiny-00000000.pth"  # the name promises a sha256 that the bytes do not have
    wf = WeightsFile("tiny", name, _serve(url, name, data), tmp_path / name)
    with pytest.raises(EdgeclassError, match="incomplete or corrupt") as e:
        download_weights(wf, progress=False)
    assert str(wf.path) in str(e.value) and wf.url in str(e.value) and "\n" not in str(e.value)
    assert _leftovers(tmp_path) == []


def test_a_transfer_cut_half_way_leaves_no_partial_file(server, tmp_path):
    _, url = server
    data = _state_bytes()
    name = _named(data)
    wf = WeightsFile("tiny", name, _serve(url, name, data, mode="cut"), tmp_path / name)
    with pytest.raises(EdgeclassError, match="nothing was saved"):
        download_weights(wf, progress=False)
    assert _leftovers(tmp_path) == []


def test_ctrl_c_during_a_download_leaves_no_partial_file(server, tmp_path):
    _, url = server
    data = _state_bytes()
    name = _named(data)
    wf = WeightsFile("tiny", name, _serve(url, name, data, mode="stall"), tmp_path / name)
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))  # the user presses Ctrl+C mid-transfer
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            download_weights(wf, progress=False)
    finally:
        timer.cancel()
    assert _leftovers(tmp_path) == []


def test_a_server_that_is_down_is_one_line_naming_url_and_where_to_put_the_file(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    wf = WeightsFile("tiny", "tiny-12345678.pth", f"http://127.0.0.1:{port}/models/tiny-12345678.pth", tmp_path / "tiny-12345678.pth")
    with pytest.raises(EdgeclassError) as e:
        download_weights(wf, progress=False)
    msg = str(e.value)
    assert wf.url in msg and str(wf.path) in msg and "tiny-12345678.pth" in msg and "\n" not in msg
    assert _leftovers(tmp_path) == []


def test_a_missing_file_on_the_server_is_one_line_with_the_http_status(server, tmp_path):
    _, url = server
    wf = WeightsFile("tiny", "tiny-12345678.pth", f"{url}/models/tiny-12345678.pth", tmp_path / "tiny-12345678.pth")
    with pytest.raises(EdgeclassError, match="HTTP 404"):
        download_weights(wf, progress=False)
    assert _leftovers(tmp_path) == []


def test_imagenet_weights_go_to_the_hub_cache_under_torchvisions_name_and_the_mirror_is_used(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    wf = imagenet_weights_file("mobilenet_v3_large")
    assert wf.url == "https://download.pytorch.org/models/mobilenet_v3_large-5c1a4163.pth"
    assert wf.path == tmp_path / "th" / "hub" / "checkpoints" / "mobilenet_v3_large-5c1a4163.pth"
    assert wf.hash_prefix == "5c1a4163"
    monkeypatch.setenv(MIRROR_ENV, "http://127.0.0.1:9/mirror/")
    assert imagenet_weights_file("efficientnet_b0").url == "http://127.0.0.1:9/mirror/efficientnet_b0_rwightman-7f5810bc.pth"
    with pytest.raises(EdgeclassError, match="no ImageNet weights for simplecnn"):
        imagenet_weights_file("simplecnn")


def test_a_corrupt_file_served_under_a_real_torchvision_name_fails_the_training_in_one_line(server, digits_root, tmp_path, monkeypatch):
    """The whole `edgeclass train --weights imagenet` path down to the hash check, with the mirror on loopback."""
    from click.testing import CliRunner

    from edgeclass.cli import cli

    _, url = server
    _serve(url, "regnet_y_400mf-e6988f5f.pth", _state_bytes())
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    monkeypatch.setenv(MIRROR_ENV, f"{url}/models")
    res = CliRunner().invoke(cli, ["train", str(digits_root), "--arch", "regnet_y_400mf", "--imgsz", "32", "--project", str(tmp_path / "runs")])
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and "e6988f5f" in lines[0] and "nothing was saved" in lines[0], res.output
    assert not any((tmp_path / "th").rglob("*.pth*")) and not (tmp_path / "runs").exists()


def test_imagenet_preprocessing_comes_from_the_weights_and_scales_with_the_input_size():
    pp = imagenet_preprocess("convnext_tiny")
    assert (pp.imgsz, pp.resize, pp.interpolation) == (224, 236, "linear")
    assert pp.mean == pytest.approx((0.485, 0.456, 0.406)) and pp.std == pytest.approx((0.229, 0.224, 0.225))
    eff = imagenet_preprocess("efficientnet_b0", 112)
    assert (eff.imgsz, eff.resize, eff.interpolation) == (112, 128, "cubic")  # 256/224 of 112
    assert imagenet_preprocess("regnet_y_400mf", 160).resize == round(160 * 232 / 224)


@pytest.mark.parametrize("arch", ["mobilenet_v3_small", "efficientnet_b0", "regnet_y_400mf"])
def test_torchvision_weights_in_the_hub_cache_load_into_the_network_with_a_new_head(arch, tmp_path, monkeypatch):
    """A torchvision-format ImageNet file (1000-class head) already in the cache: read, never downloaded
    (the mirror is a dead port), every backbone tensor loaded, the head replaced."""
    import torchvision.models as tvm

    from edgeclass.train.archs import arch_info
    from edgeclass.train.models import build_network

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    monkeypatch.setenv(MIRROR_ENV, "http://127.0.0.1:9/nothing-here")
    torch.manual_seed(1)
    imagenet = getattr(tvm, arch)().state_dict()
    wf = imagenet_weights_file(arch)
    wf.path.parent.mkdir(parents=True)
    torch.save(imagenet, wf.path)
    net = build_network(arch, 3, 64, weights="imagenet")
    head = arch_info(arch).head
    own = net.state_dict()
    assert all(torch.equal(own[k], v) for k, v in imagenet.items() if not k.startswith(head + "."))
    assert own[head + ".weight"].shape[0] == 3
