"""Face model files: choosing a detector, bad files (one line naming the file and the detectors that
are available), the MTCNN conversion, and the sha256-checked download against an HTTP server on
127.0.0.1 (never the internet)."""

from __future__ import annotations

import hashlib
import http.server
import os
import shutil
import socket
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from edgeclass.errors import EdgeclassError
from edgeclass.facemodels import DOWNLOADS, MTCNN_FILES, Download, download, fetch_model
from edgeclass.runtime.faces import available_detectors, load_detector
from edgeclass.runtime.faces.haar import HaarCascade
from edgeclass.runtime.faces.mtcnn import MTCNN


def one_line(e: pytest.ExceptionInfo) -> str:
    text = str(e.value)
    assert "\n" not in text and "Traceback" not in text
    return text


def non_face_onnx(path: Path) -> Path:
    """A small image classifier ONNX (conv + pooling + 10 logits), the wrong kind of model."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = numpy_helper.from_array(np.random.default_rng(0).standard_normal((10, 3, 3, 3)).astype(np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["images", "w"], ["c"]), helper.make_node("GlobalAveragePool", ["c"], ["p"]),
         helper.make_node("Flatten", ["p"], ["logits"])],
        "classifier",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 64, 64])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])],
        initializer=[w],
    )
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def test_auto_is_mtcnn_when_set_up_else_haar_with_a_note(mtcnn_models, tmp_path):
    notes = []
    assert isinstance(load_detector("auto", folder=mtcnn_models, log=notes.append), MTCNN) and notes == []
    det = load_detector("auto", folder=tmp_path, log=notes.append)
    assert isinstance(det, HaarCascade)
    assert len(notes) == 1 and "MTCNN" in notes[0] and "Haar" in notes[0] and str(tmp_path) in notes[0]
    assert available_detectors(mtcnn_models) == ["mtcnn", "haar"]
    assert available_detectors(tmp_path) == ["haar"]


def test_options_reach_the_detector_and_bad_ones_are_refused(mtcnn_models):
    det = load_detector("mtcnn", folder=mtcnn_models, max_side=320, min_face=30, score=0.8, thresholds=(0.7, 0.8))
    assert det.options.max_side == 320 and det.options.min_face == 30 and det.score_threshold == 0.8
    assert det.settings.thresholds == (0.7, 0.8)
    assert load_detector("haar").options.max_side == 320  # the cascade's own default
    for bad in ({"max_side": 8}, {"scale": 0.0}, {"min_face": 0}, {"score": 2.0}):
        with pytest.raises(EdgeclassError):
            load_detector("mtcnn", folder=mtcnn_models, **bad)
    with pytest.raises(EdgeclassError) as e:
        load_detector("haar", engine="opencv")
    assert "engine" in one_line(e)
    with pytest.raises(EdgeclassError) as e:
        load_detector("retinaface")
    assert "mtcnn" in one_line(e) and "haar" in one_line(e)


def test_a_missing_yunet_names_the_file_the_url_and_the_fallbacks(mtcnn_models):
    with pytest.raises(EdgeclassError) as e:
        load_detector("yunet", folder=mtcnn_models)
    msg = one_line(e)
    assert DOWNLOADS["yunet"].url in msg and str(mtcnn_models / DOWNLOADS["yunet"].filename) in msg
    assert "available detectors: mtcnn, haar" in msg


def spoil(path: Path, kind: str) -> None:
    """Make ``path`` a bad model file of ``kind``: missing, empty, random bytes, a classifier ONNX."""
    if kind == "missing":
        path.unlink(missing_ok=True)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "random":
        path.write_bytes(os.urandom(4096))
    elif kind == "classifier":
        non_face_onnx(path)


@pytest.mark.parametrize("kind", ["missing", "empty", "random", "classifier"])
def test_bad_face_model_files_are_one_line_errors(kind, tmp_path, mtcnn_models):
    path = tmp_path / "face.onnx"
    spoil(path, kind)
    with pytest.raises(EdgeclassError) as e:
        load_detector(str(path), folder=mtcnn_models)
    msg = one_line(e)
    assert str(path) in msg and "available detectors: mtcnn, haar" in msg


@pytest.mark.parametrize("kind", ["missing", "empty", "random", "classifier", "other-stage"])
def test_a_broken_mtcnn_folder_names_the_bad_stage(kind, tmp_path, mtcnn_models):
    folder = tmp_path / "mtcnn"
    shutil.copytree(mtcnn_models, folder)
    bad = folder / MTCNN_FILES["rnet"]
    if kind == "other-stage":
        shutil.copy(folder / MTCNN_FILES["onet"], bad)
    else:
        spoil(bad, kind)
    with pytest.raises(EdgeclassError) as e:
        load_detector(str(folder))
    assert str(bad) in one_line(e)
    with pytest.raises(EdgeclassError) as e:
        load_detector("mtcnn", folder=folder)
    assert str(bad) in one_line(e)


def test_a_bad_haar_cascade_is_a_one_line_error(tmp_path):
    for data in (b"", os.urandom(512), b"<?xml version='1.0'?><opencv_storage></opencv_storage>"):
        path = tmp_path / "cascade.xml"
        path.write_bytes(data)
        with pytest.raises(EdgeclassError) as e:
            load_detector(str(path))
        assert str(path) in one_line(e)


def test_converting_from_a_corrupt_weights_folder_is_one_line(tmp_path):
    from edgeclass.export.mtcnn import convert_mtcnn, wheel_weights_dir

    try:
        weights = wheel_weights_dir()
    except EdgeclassError as e:
        pytest.skip(str(e))
    broken = tmp_path / "data"
    shutil.copytree(weights, broken)
    (broken / "pnet.pt").write_bytes(os.urandom(256))
    with pytest.raises(EdgeclassError) as e:
        convert_mtcnn(tmp_path / "out", broken)
    assert "pnet.pt" in one_line(e)
    shutil.copy(weights / "onet.pt", broken / "pnet.pt")  # a state dict, but of the wrong network
    with pytest.raises(EdgeclassError) as e:
        convert_mtcnn(tmp_path / "out", broken)
    assert "pnet" in one_line(e)
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_converted_stages_are_tagged(mtcnn_models):
    import onnx

    for stage, name in MTCNN_FILES.items():
        meta = {p.key: p.value for p in onnx.load(str(mtcnn_models / name)).metadata_props}
        assert meta["edgeclass.face_model"] == f"mtcnn-{stage}"


# -- download -----------------------------------------------------------------------------------

PAYLOAD = os.urandom(300_000)


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - http.server's name
        if self.path == "/truncated":
            self.send_response(200)
            self.send_header("Content-Length", str(len(PAYLOAD)))
            self.end_headers()
            self.wfile.write(PAYLOAD[:1000])
            self.wfile.flush()
            self.close_connection = True
            return
        if self.path != "/model.onnx":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(PAYLOAD)))
        self.end_headers()
        self.wfile.write(PAYLOAD)

    def log_message(self, *args):
        pass


@contextmanager
def local_server():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def entry(url: str, sha: str = hashlib.sha256(PAYLOAD).hexdigest()) -> Download:
    return Download("test", url, sha, "model.onnx", "MIT", len(PAYLOAD))


def leftovers(folder: Path) -> list:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_checks_the_sha256_and_writes_the_file(tmp_path):
    with local_server() as base:
        path = download(entry(f"{base}/model.onnx"), tmp_path / "m" / "model.onnx", progress=True, timeout=5)
    assert path.read_bytes() == PAYLOAD
    assert leftovers(tmp_path / "m") == ["model.onnx"]


def test_a_wrong_sha256_leaves_no_file(tmp_path):
    with local_server() as base, pytest.raises(EdgeclassError) as e:
        download(entry(f"{base}/model.onnx", sha="0" * 64), tmp_path / "model.onnx", progress=False, timeout=5)
    assert "sha256" in one_line(e)
    assert leftovers(tmp_path) == []


def test_a_partial_transfer_leaves_no_file(tmp_path):
    with local_server() as base, pytest.raises(EdgeclassError) as e:
        download(entry(f"{base}/truncated"), tmp_path / "model.onnx", progress=False, timeout=5)
    msg = one_line(e)
    assert "/truncated" in msg and str(tmp_path / "model.onnx") in msg
    assert leftovers(tmp_path) == []


def test_server_down_names_the_url_and_where_to_put_the_file(tmp_path):
    with socket.socket() as s:  # a port on loopback that nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/model.onnx"
    with pytest.raises(EdgeclassError) as e:
        download(entry(url), tmp_path / "model.onnx", progress=False, timeout=5)
    msg = one_line(e)
    assert url in msg and str(tmp_path / "model.onnx") in msg
    assert leftovers(tmp_path) == []
    with local_server() as base, pytest.raises(EdgeclassError) as e:
        download(entry(f"{base}/nothing-here"), tmp_path / "model.onnx", progress=False, timeout=5)
    assert "404" in one_line(e) and leftovers(tmp_path) == []


def test_fetch_model_uses_the_cached_file_without_a_network(tmp_path):
    cached = tmp_path / DOWNLOADS["yunet"].filename
    cached.write_bytes(b"already here")
    assert fetch_model("yunet", tmp_path) == cached  # no download attempted (there is no network)
    with pytest.raises(EdgeclassError):
        fetch_model("no-such-model", tmp_path)


def test_face_models_command_lists_converts_and_fails_in_one_line(tmp_path, monkeypatch, capsys, mtcnn_models):
    from edgeclass.tools.face_models import main

    monkeypatch.setenv("EDGECLASS_HOME", str(tmp_path))
    (tmp_path / "models").mkdir()
    for name in MTCNN_FILES.values():
        shutil.copy(mtcnn_models / name, tmp_path / "models" / name)
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    assert "mtcnn-pnet  yes" in out and "yunet       no" in out
    assert main(["convert", "mtcnn"]) == 0 and "already" in capsys.readouterr().out
    assert main(["fetch", "no-such-model"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown model") and err.count("\n") == 1
    assert main(["convert", "yunet"]) == 2 and main(["frobnicate"]) == 2
