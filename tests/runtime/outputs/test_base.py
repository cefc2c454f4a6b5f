"""Outputs as URIs (``--output``): what each form opens, the old flags as aliases, and bad values
refused with one line before a model or camera is opened."""

from __future__ import annotations

import json

import cv2
import pytest
from click.testing import CliRunner

from edgeclass.cli import cli
from edgeclass.errors import EdgeclassError
from edgeclass.runtime.outputs import OutputSpec, output_specs, parse_output
from edgeclass.tools import demo_video as dv


@pytest.mark.parametrize(
    "uri, kind, target",
    [
        ("display://0", "display", "0"),
        ("display://2", "display", "2"),
        ("out.mp4", "video", "out.mp4"),
        ("clips/OUT.AVI", "video", "clips/OUT.AVI"),
        ("file://run.mkv", "video", "run.mkv"),
        ("frames.jsonl", "jsonl", "frames.jsonl"),
        ("frames.json", "jsonl", "frames.json"),
        ("-", "jsonl", "-"),
    ],
)
def test_each_uri_form_names_its_kind(uri, kind, target):
    assert parse_output(uri) == OutputSpec(kind, target)


@pytest.mark.parametrize("uri", ["frames.txt", "display://x", "", "rtsp://cam/out"])
def test_a_uri_of_no_known_form_is_one_line_naming_the_forms(uri):
    with pytest.raises(EdgeclassError) as e:
        parse_output(uri)
    assert "\n" not in str(e.value) and ("display://" in str(e.value) or "needs a value" in str(e.value))


def test_old_flags_are_aliases_in_order_and_json_takes_any_suffix():
    specs = output_specs(["a.jsonl"], show=True, save="v.avi", json="log.txt")
    assert specs == [OutputSpec("jsonl", "a.jsonl"), OutputSpec("display", "0"), OutputSpec("video", "v.avi"), OutputSpec("jsonl", "log.txt")]
    with pytest.raises(EdgeclassError, match="--save"):
        output_specs(save="v.txt")


def test_run_writes_every_output_given(tmp_path, exported_run, digits_root):
    images, labels = dv.test_images(digits_root)
    video = dv.write_video(images[:10], labels[:10], tmp_path / "in.avi", size=64, frames_per_image=1)
    out_json, out_video = tmp_path / "a.jsonl", tmp_path / "b.avi"
    res = CliRunner().invoke(cli, ["run", str(exported_run / "weights" / "model.onnx"), "--source", str(video.path),
                                   "--output", str(out_json), "-o", str(out_video)])
    assert res.exit_code == 0, res.output
    records = [json.loads(ln) for ln in out_json.read_text().splitlines()]
    assert len(records) == 10 and all(r["schema"] == "edgeclass.frame.v2" for r in records)
    cap = cv2.VideoCapture(str(out_video))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 10
    assert json.loads(out_json.with_suffix(".summary.json").read_text())["frames"] == 10


def test_a_bad_output_is_refused_before_the_model_is_opened(tmp_path):
    res = CliRunner().invoke(cli, ["run", str(tmp_path / "no-such-model.onnx"), "--source", "0", "--output", "x.txt"])
    assert res.exit_code != 0 and "--output x.txt" in res.output and "Traceback" not in res.output
