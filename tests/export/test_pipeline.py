"""`edgeclass export`: each artifact works without edgeclass, carries the card, and passes parity."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgeclass.cli import cli

# Runs in a fresh interpreter (-I: no user site, no PYTHONPATH, no cwd on sys.path) in which importing
# any of the BLOCKED packages fails, so the artifact must work on its own.
ISOLATED_PRELUDE = """
import sys, json, importlib.abc
BLOCKED = {blocked!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{{name}} is blocked in this test")
sys.meta_path.insert(0, Block())
import numpy as np
data = np.load(sys.argv[1])
x, y = data["x"], data["y"]
"""

TORCHSCRIPT_ONLY = """
import torch
extra = {"edgeclass.json": ""}
m = torch.jit.load(sys.argv[2], _extra_files=extra).eval()
with torch.no_grad():
    logits = m(torch.from_numpy(x)).numpy()
print(json.dumps({"top1": float((logits.argmax(1) == y).mean()), "card": json.loads(extra["edgeclass.json"])}))
"""

ONNXRUNTIME_ONLY = """
import onnxruntime as ort
s = ort.InferenceSession(sys.argv[2], providers=["CPUExecutionProvider"])
logits = s.run(["logits"], {"images": x})[0]
card = json.loads(s.get_modelmeta().custom_metadata_map["edgeclass.model_card"])
print(json.dumps({"top1": float((logits.argmax(1) == y).mean()), "card": card, "dtype": str(logits.dtype)}))
"""


def same_card(stored: dict, card) -> bool:
    """The stored card equals the checkpoint's except for precision and provenance (which differ by design)."""
    strip = lambda d: {k: v for k, v in d.items() if k not in ("precision", "provenance")}  # noqa: E731
    return strip(stored) == strip(json.loads(card.to_json()))


def run_isolated(body: str, blocked, images: Path, artifact: Path) -> dict:
    code = ISOLATED_PRELUDE.format(blocked=set(blocked)) + textwrap.dedent(body)
    proc = subprocess.run([sys.executable, "-I", "-c", code, str(images), str(artifact)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def test_images(tmp_path_factory, exported_run, digits_root):
    """TEST-split images (preprocessed by edgeclass) + labels in an .npz, and the checkpoint's top-1 on them."""
    import torch

    from edgeclass.data.image_sets import split_images
    from edgeclass.data.load import load_dataset
    from edgeclass.train.checkpoint import load_model

    model, card = load_model(exported_run / "weights" / "best.pt")
    x, y = split_images(load_dataset(digits_root), card, "test")
    with torch.no_grad():
        top1 = float((model(torch.from_numpy(x)).argmax(1).numpy() == y).mean())
    path = tmp_path_factory.mktemp("npz") / "test.npz"
    np.savez(path, x=x, y=y)
    return path, top1, card


def test_torchscript_runs_with_only_torch_and_keeps_the_card(exported_run, test_images):
    images, top1, card = test_images
    out = run_isolated(TORCHSCRIPT_ONLY, {"edgeclass", "onnxruntime", "onnx"}, images, exported_run / "weights" / "model.ts")
    assert out["top1"] == pytest.approx(top1, abs=1e-9)
    assert same_card(out["card"], card) and out["card"]["preprocess"]["imgsz"] == 32
    assert out["card"]["precision"] == "fp32"


@pytest.mark.parametrize("name, precision, tolerance", [("model.onnx", "fp32", 0.0), ("model.fp16.onnx", "fp16", 0.01)])
def test_onnx_runs_with_only_onnxruntime_and_numpy(exported_run, test_images, name, precision, tolerance):
    images, top1, card = test_images
    out = run_isolated(ONNXRUNTIME_ONLY, {"edgeclass", "torch", "torchvision"}, images, exported_run / "weights" / name)
    assert out["top1"] == pytest.approx(top1, abs=tolerance + 1e-9)
    assert out["dtype"] == "float32"  # fp16 model still returns float32 logits
    assert same_card(out["card"], card) and out["card"]["precision"] == precision
    assert out["card"]["provenance"]["parent"] == "best.pt"


def test_onnx_file_follows_the_contract(exported_run):
    import onnx

    path = exported_run / "weights" / "model.onnx"
    onnx.checker.check_model(str(path), full_check=True)
    model = onnx.load(str(path))
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [17]
    (inp,), (out,) = model.graph.input, model.graph.output
    assert inp.name == "images" and out.name == "logits"
    assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
    dims = inp.type.tensor_type.shape.dim
    assert dims[0].dim_param and [d.dim_value for d in dims[1:]] == [3, 32, 32]  # dynamic batch
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in model.graph.initializer)
    assert not list(path.parent.glob("*.onnx.data"))
    # the normalisation is inside the graph: it consumes the raw [0, 1] input
    assert {n.op_type for n in model.graph.node if "images" in n.input} == {"Sub"}


def test_parity_report_is_written(exported_run):
    report = json.loads((exported_run / "weights" / "parity.json").read_text())
    assert report["passed"] is True
    rows = {r["artifact"]: r for r in report["artifacts"]}
    assert set(rows) == {"model.ts", "model.onnx", "model.fp16.onnx"}
    assert rows["model.onnx"]["top1_agree"] == 1.0 and rows["model.onnx"]["rel_error"] <= 1e-3
    assert "val images" in report["images"]


def test_static_batch_and_opset18_use_the_dynamo_exporter(tmp_path, trained_run):
    import onnx
    import onnxruntime as ort

    result = CliRunner().invoke(
        cli, ["export", str(trained_run), "--formats", "onnx", "--opset", "18", "--batch", "4", "--out", str(tmp_path), "--parity-images", "10"]
    )
    assert result.exit_code == 0, result.output
    model = onnx.load(str(tmp_path / "model.onnx"))
    assert [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")] == [18]
    sess = ort.InferenceSession(str(tmp_path / "model.onnx"), providers=["CPUExecutionProvider"])
    assert sess.get_inputs()[0].shape == [4, 3, 32, 32] and sess.get_inputs()[0].name == "images"
    assert "model.onnx" in result.output and "ok" in result.output  # parity ran, padding the last batch of 10


def test_fp16_overflow_fails_parity_by_name(tmp_path, trained_run):
    """Weights beyond fp16's range (the converter clamps them) break the fp16 model: the command says
    which artifact failed and exits non-zero, while the fp32 artifact passes."""
    from edgeclass.train.checkpoint import load_checkpoint, save_checkpoint

    ckpt = load_checkpoint(trained_run / "weights" / "best.pt")
    ckpt["model"] = {k: (v * 1e7 if k.startswith("fc.") else v) for k, v in ckpt["model"].items()}
    run = tmp_path / "run"
    shutil.copytree(trained_run, run)
    save_checkpoint(run / "weights" / "best.pt", ckpt)
    result = CliRunner().invoke(cli, ["export", str(run), "--formats", "onnx,onnx-fp16", "--parity-images", "32"])
    assert result.exit_code == 1
    assert "parity check failed for model.fp16.onnx" in result.output
    report = json.loads((run / "weights" / "parity.json").read_text())
    assert {r["artifact"]: r["passed"] for r in report["artifacts"]} == {"model.onnx": True, "model.fp16.onnx": False}
    assert report["artifacts"][1]["rel_error"] > 5e-2


class Evil:
    """Pickled as a reference to this module: loading it would need unsafe unpickling."""


@pytest.mark.parametrize("case", ["no-weights", "not-ours", "unsafe", "missing"])
def test_bad_sources_are_one_line_errors(tmp_path, case):
    import torch

    if case == "no-weights":
        target = tmp_path / "run"
        (target / "weights").mkdir(parents=True)
        expect = "no weights/best.pt"
    elif case == "not-ours":
        target = tmp_path / "plain.pt"
        torch.save({"weight": torch.zeros(3)}, target)
        expect = "not an edgeclass checkpoint"
    elif case == "unsafe":
        target = tmp_path / "evil.pt"
        torch.save({"format": "edgeclass.checkpoint.v1", "obj": Evil()}, target)
        expect = "unsafe unpickling"
    else:
        target = tmp_path / "nothing"
        expect = "does not exist"
    result = CliRunner().invoke(cli, ["export", str(target)])
    assert result.exit_code == 2
    assert expect in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not list(tmp_path.rglob("*.onnx"))
