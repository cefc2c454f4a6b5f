"""The live pipeline on real video files: labels per frame, accuracy vs offline, faces, several sources."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner

from edgeclass.cli import cli
from edgeclass.runtime import Classifier, Pipeline, PipelineConfig, open_source
from edgeclass.runtime.roi import FaceDetector, IoUTracker, padded_square
from edgeclass.runtime.results import Smoother
from edgeclass.tools import demo_video as dv

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def digits_video(tmp_path_factory, digits_root):
    """The held-out test digits as a 64 px MJPG video, 2 frames per image, with the label of each frame."""
    images, labels = dv.test_images(digits_root)
    return dv.write_video(images, labels, tmp_path_factory.mktemp("video") / "test.avi", size=64, frames_per_image=2)


@pytest.fixture(scope="module")
def onnx_model(exported_run) -> Path:
    return exported_run / "weights" / "model.onnx"


@pytest.fixture(scope="module")
def astronaut_video(tmp_path_factory) -> Path:
    import skimage.data

    img = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    path = tmp_path_factory.mktemp("face") / "astronaut.avi"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (512, 512))
    for dx in range(0, 12, 2):  # the astronaut drifts a little to the right
        w.write(np.roll(img, dx, axis=1))
    w.release()
    return path


def test_cli_json_labels_match_the_video_and_offline_accuracy(tmp_path, digits_video, onnx_model):
    out = tmp_path / "frames.jsonl"
    res = CliRunner().invoke(cli, ["run", str(onnx_model), "--source", str(digits_video.path), "--json", str(out), "--smooth", "1"])
    assert res.exit_code == 0, res.output
    records = dv.read_json_lines(out)
    assert [r["frame"] for r in records] == list(range(len(digits_video.truth)))
    r0 = records[0]
    assert r0["schema"] == "edgeclass.frame.v2" and set(r0) >= {"time", "source", "frame", "regions", "ms"}
    assert set(r0["regions"][0]) >= {"label", "confidence", "topk", "box", "track"}
    assert [g["box"] for g in r0["regions"]] == [[0, 0, 64, 64]] and set(r0["ms"]) >= {"capture", "preprocess", "inference", "postprocess"}
    live = dv.frame_accuracy(records, digits_video.truth)
    with Classifier(onnx_model) as clf:
        offline = dv.offline_accuracy(clf.backend, digits_video.images, digits_video.labels)
    assert offline >= 0.9
    assert abs(live - offline) <= 0.01, (live, offline)
    # the summary: frames, dropped, FPS, p50/p95 per stage
    assert f"frames {len(records)}  dropped 0" in res.output and "mean FPS" in res.output
    summary = json.loads(out.with_suffix(".summary.json").read_text())
    assert summary["frames"] == len(records) and summary["dropped"] == 0
    assert set(summary["ms"]) >= {"capture", "preprocess", "inference", "postprocess", "latency"}
    assert summary["ms"]["inference"]["p95"] >= summary["ms"]["inference"]["p50"] > 0


def test_demo_video_mode_prints_live_next_to_offline(tmp_path, exported_run):
    res = CliRunner().invoke(cli, ["run", str(exported_run / "weights" / "model.onnx"), "--demo-video", str(exported_run), "--out", str(tmp_path)])
    assert res.exit_code == 0, res.output
    line = [ln for ln in res.output.splitlines() if "live accuracy" in ln][0]
    live, offline = [float(x.split("%")[0]) for x in line.split("accuracy ")[1:]]
    assert offline >= 90 and abs(live - offline) <= 1.0
    assert (tmp_path / "annotated.mp4").stat().st_size > 0


def test_image_folder_source_through_the_cli(tmp_path, digits_root, onnx_model):
    folder = tmp_path / "imgs"
    folder.mkdir()
    picks = sorted(digits_root.glob("four/*.png"))[:3] + sorted(digits_root.glob("nine/*.png"))[:3]
    for i, p in enumerate(picks):
        (folder / f"{i}_{p.parent.name}.png").write_bytes(p.read_bytes())
    res = CliRunner().invoke(cli, ["run", str(onnx_model), "--source", str(folder), "--json", "-", "--smooth", "1", "--threshold", "none"])
    assert res.exit_code == 0, res.output
    records = [json.loads(ln) for ln in res.stdout.splitlines() if ln.startswith("{")]
    assert len(records) == 6
    labels = [r["regions"][0]["label"] for r in records]
    assert labels.count("four") >= 2 and labels[3:].count("nine") >= 2


def test_two_sources_give_one_result_per_source_per_step(digits_video, onnx_model, tmp_path):
    clf = Classifier(onnx_model)
    srcs = [open_source(str(digits_video.path)), open_source(str(digits_video.path), stride=2)]
    pipe = Pipeline(clf, srcs, PipelineConfig(smooth=1.0, max_frames=20))
    steps = list(pipe)
    assert len(steps) == 20
    for k, step in enumerate(steps):
        assert [r.source for r in step.results] == [0, 1]
        assert [r.frame.index for r in step.results] == [k, 2 * k]
    hits = sum(r.predictions[0].topk[0][0] == digits_video.truth[r.frame.index] for s in steps for r in s.results)
    assert hits >= 36  # 40 results, ~98% accuracy
    assert pipe.summary().frames == 40 and pipe.summary().steps == 20
    pipe.close()


def test_face_roi_finds_the_astronaut_and_tracks_her(astronaut_video, onnx_model, tmp_path):
    import skimage.data

    img = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    faces = FaceDetector().detect(img)
    assert len(faces) == 1
    x1, y1, x2, y2 = faces[0].box
    assert 150 < (x1 + x2) / 2 < 300 and 60 < (y1 + y2) / 2 < 180  # her face, not the flag or the shuttle
    out = tmp_path / "faces.jsonl"
    res = CliRunner().invoke(cli, ["run", str(onnx_model), "--source", str(astronaut_video), "--roi", "face", "--json", str(out), "--save", str(tmp_path / "faces.mp4")])
    assert res.exit_code == 0, res.output
    records = dv.read_json_lines(out)
    assert len(records) == 6
    assert all(len(r["regions"]) == 1 for r in records)
    assert len({r["regions"][0]["track"] for r in records}) == 1  # one face, one id across frames
    assert records[-1]["regions"][0]["box"][0] > records[0]["regions"][0]["box"][0]  # the box follows her
    cap = cv2.VideoCapture(str(tmp_path / "faces.mp4"))
    assert cap.isOpened() and int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 6


def test_tracker_keeps_ids_and_smoother_is_per_track():
    t = IoUTracker(max_missed=1)
    a, b = t.update([(0, 0, 10, 10), (50, 50, 60, 60)])
    a2, b2 = t.update([(52, 51, 62, 61), (1, 0, 11, 10)])  # order swapped, both moved a little
    assert (a2.id, b2.id) == (b.id, a.id)
    t.update([])
    t.update([])
    (c,) = t.update([(0, 0, 10, 10)])
    assert c.id not in (a.id, b.id)  # forgotten after max_missed frames
    s = Smoother(0.5)
    np.testing.assert_allclose(s.update(1, np.array([1.0, 0.0])), [1.0, 0.0])
    np.testing.assert_allclose(s.update(1, np.array([0.0, 1.0])), [0.5, 0.5])
    np.testing.assert_allclose(s.update(2, np.array([0.0, 1.0])), [0.0, 1.0])
    s.keep_only([2])
    assert len(s) == 1
    box = padded_square((90, 0, 100, 20), 0.25, 100, 100)
    assert box[2] <= 100 and box[1] >= 0 and box[2] - box[0] == box[3] - box[1] == 30


def test_smoothing_holds_a_label_through_one_odd_frame(onnx_model, digits_root, tmp_path):
    """EMA: one frame of another digit inside a run of sevens does not flip the label."""
    seven = cv2.imread(str(sorted(digits_root.glob("seven/*.png"))[0]))
    zero = cv2.imread(str(sorted(digits_root.glob("zero/*.png"))[0]))
    folder = tmp_path / "seq"
    folder.mkdir()
    for i, im in enumerate([seven] * 4 + [zero] + [seven] * 2):
        cv2.imwrite(str(folder / f"{i:02d}.png"), im)
    clf = Classifier(onnx_model, threshold=None)
    smooth = [r.predictions[0].label for s in Pipeline(clf, [open_source(str(folder))], PipelineConfig(smooth=0.3)) for r in s.results]
    raw = [r.predictions[0].label for s in Pipeline(clf, [open_source(str(folder))], PipelineConfig(smooth=1.0)) for r in s.results]
    assert raw[4] == "zero" and smooth == ["seven"] * 7


def test_bad_inputs_are_one_line_errors(tmp_path, onnx_model):
    runner = CliRunner()
    res = runner.invoke(cli, ["run", str(onnx_model), "--source", "/dev/video99"])
    assert res.exit_code == 2 and "error: cannot open source /dev/video99" in res.output and "Traceback" not in res.output
    (tmp_path / "m.h5").write_bytes(b"x")
    res = runner.invoke(cli, ["run", str(tmp_path / "m.h5"), "--source", "0"])
    assert res.exit_code == 2 and "unknown model type" in res.output
    res = runner.invoke(cli, ["run", str(onnx_model), "--source", str(tmp_path / "nope.mp4")])
    assert res.exit_code == 2 and "does not exist" in res.output


def test_runtime_imports_and_runs_with_torch_blocked(tmp_path, onnx_model, digits_video):
    """What a Jetson without PyTorch does: import the runtime, classify frames, run the CLI loop."""
    script = textwrap.dedent(
        f"""
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in ("torch", "torchvision"):
                    raise ImportError("torch is blocked in this test")
        sys.meta_path.insert(0, Block())
        from edgeclass.runtime import Classifier, open_source
        clf = Classifier({str(onnx_model)!r})
        labels = [clf(frame)[0] for frame in open_source({str(digits_video.path)!r}, stride=50)]
        assert len(labels) == 11, labels
        from edgeclass.cli import cli
        cli(["run", {str(onnx_model)!r}, "--source", {str(digits_video.path)!r}, "--max-frames", "5"], standalone_mode=False)
        assert not any(m.split(".")[0] in ("torch", "torchvision") for m in sys.modules)
        print("OK", labels[:3])
        """
    )
    res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.startswith("OK")
