"""`edgeclass eval`: the same accuracy for every format, the unknown threshold, one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgeclass.cli import cli
from edgeclass.errors import EdgeclassError
from edgeclass.preprocess import softmax
from edgeclass.tools.evaluate import EvalConfig, choose_threshold, evaluate


def invoke(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def run_copy(trained_run, tmp_path) -> Path:
    """A writable copy of the trained run (eval --split val writes into the artifact)."""
    dst = tmp_path / "runs" / "demo"
    shutil.copytree(trained_run, dst)
    return dst


def test_eval_checkpoint_reports_accuracy_per_class_and_writes_files(trained_run, tmp_path):
    out = tmp_path / "eval"
    res = invoke("eval", trained_run / "weights" / "best.pt", "--out", out)
    assert res.exit_code == 0, res.output
    assert "top-1" in res.output and "precision" in res.output and "seven" in res.output
    report = json.loads((out / "best.pt.test.json").read_text())
    assert report["top1"] >= 0.9  # the fixture's model, on the run's own test split (data from config.json)
    assert report["num_samples"] == sum(report["per_class"][c]["support"] for c in report["classes"])
    assert np.asarray(report["confusion_matrix"]).sum() == report["num_samples"]
    assert (out / "best.pt.test.confusion.png").stat().st_size > 1000


def test_choose_threshold_keeps_the_requested_share_of_correct_predictions():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(1000, 5)).astype(np.float32) * 3
    labels = logits.argmax(1).copy()
    labels[:100] = (labels[:100] + 1) % 5  # 100 wrong predictions
    probs = softmax(logits)
    th = choose_threshold(probs, labels, keep=0.99)
    conf, correct = probs.max(1), probs.argmax(1) == labels
    assert (conf[correct] >= th.value).mean() >= 0.99
    # the highest such threshold: any higher confidence among the correct ones would keep too few
    higher = np.sort(conf[correct])[np.sort(conf[correct]) > th.value + 1e-6]  # stored to 6 decimals
    assert (conf[correct] >= higher[0]).mean() < 0.99
    assert th.kept >= 0.99 and 0.0 < th.rejected_wrong < 1.0
    assert choose_threshold(probs, labels, keep=1.0).value == pytest.approx(conf[correct].min(), abs=1e-6)


def test_eval_on_val_writes_a_threshold_into_the_checkpoint_card(run_copy):
    ckpt = run_copy / "weights" / "best.pt"
    res = invoke("eval", ckpt, "--split", "val", "--keep", "0.95", "--out", run_copy / "eval")
    assert res.exit_code == 0, res.output
    from edgeclass.train.checkpoint import card_of, load_checkpoint

    card = card_of(load_checkpoint(ckpt))
    assert card.threshold is not None and 0.0 < card.threshold < 1.0
    assert card.provenance["threshold"]["keep"] == 0.95
    assert f"unknown threshold {card.threshold:.6f}" in res.output
    # the weights are untouched: the test accuracy is unchanged
    again = evaluate(ckpt, config=EvalConfig(split="test"))
    assert again.report.top1 >= 0.9


def test_missing_model_is_one_line_and_exit_2(tmp_path, digits_root):
    res = invoke("eval", tmp_path / "nope.onnx", "--data", digits_root)
    assert res.exit_code == 2
    assert res.output.strip().count("\n") == 0 and res.output.startswith("error:") and "does not exist" in res.output


def test_model_outside_a_run_needs_data(trained_run, tmp_path):
    lone = tmp_path / "best.pt"
    shutil.copy(trained_run / "weights" / "best.pt", lone)
    res = invoke("eval", lone)
    assert res.exit_code == 2 and "--data" in res.output and "Traceback" not in res.output


def test_dataset_with_classes_the_model_does_not_know_is_refused(trained_run, digits_root, tmp_path):
    data = tmp_path / "other"
    shutil.copytree(digits_root, data)
    (data / "seven").rename(data / "siete")
    (data / "splits.csv").write_text((data / "splits.csv").read_text().replace("seven", "siete"))
    res = invoke("eval", trained_run / "weights" / "best.pt", "--data", data)
    assert res.exit_code == 2
    assert "siete" in res.output and res.output.startswith("error:") and res.output.strip().count("\n") == 0


def test_bad_keep_is_refused(trained_run):
    with pytest.raises(EdgeclassError, match="keep"):
        evaluate(trained_run / "weights" / "best.pt", config=EvalConfig(split="val", keep=1.5))


def test_onnx_and_checkpoint_give_the_same_top1_on_the_same_split(exported_run):
    weights = exported_run / "weights"
    pt = evaluate(weights / "best.pt")
    onnx = evaluate(weights / "model.onnx")
    assert onnx.backend == "onnxruntime" and pt.backend == "pytorch"
    assert onnx.paths == pt.paths  # same images, same order
    assert onnx.report.top1 == pt.report.top1
    assert np.array_equal(onnx.report.confusion, pt.report.confusion)
    np.testing.assert_allclose(onnx.logits, pt.logits, atol=1e-3)


def test_threshold_from_eval_on_val_is_what_the_runtime_uses(exported_run, tmp_path):
    from edgeclass.runtime import Classifier

    run = tmp_path / "runs" / "demo"
    shutil.copytree(exported_run, run)
    model = run / "weights" / "model.onnx"
    with Classifier(model) as before:
        assert before.threshold is None  # export leaves it unset
    res = invoke("eval", model, "--split", "val")
    assert res.exit_code == 0, res.output
    chosen = json.loads((run / "eval" / "model.onnx.val.json").read_text())["threshold"]["value"]
    with Classifier(model) as clf:
        assert clf.threshold == pytest.approx(chosen, abs=1e-6)
        # below the threshold the runtime says "unknown": a blank frame is not a confident digit
        label, conf = clf(np.zeros((32, 32, 3), np.uint8))
        assert (label == "unknown") == (conf < clf.threshold)
    # the other artifacts keep their own cards
    with Classifier(run / "weights" / "model.fp16.onnx") as other:
        assert other.threshold is None


def test_edgeclass_run_uses_the_threshold_eval_wrote(exported_run, digits_root, tmp_path):
    """The real `edgeclass run` on an image folder: without --threshold it decides exactly as with
    --threshold <the value eval wrote>, and unlike --threshold none."""
    model = tmp_path / "model.onnx"
    shutil.copy(exported_run / "weights" / "model.onnx", model)
    # keep only half of the correct val predictions: a high threshold, so some images fall below it
    res = invoke("eval", model, "--data", digits_root, "--split", "val", "--keep", "0.5", "--out", tmp_path / "eval")
    assert res.exit_code == 0, res.output
    threshold = json.loads((tmp_path / "eval" / "model.onnx.val.json").read_text())["threshold"]["value"]
    images = tmp_path / "images"
    images.mkdir()
    for p in sorted((digits_root / "three").iterdir())[:16]:
        shutil.copy(p, images / p.name)

    def labels(*extra):
        out = tmp_path / f"run{len(list(tmp_path.glob('run*.jsonl')))}.jsonl"
        res = invoke("run", model, "--source", images, "--smooth", "1", "--json", out, *extra)
        assert res.exit_code == 0, res.output
        return [json.loads(line)["regions"][0]["label"] for line in out.read_text().splitlines() if line.strip()]

    default = labels()
    assert len(default) == 16
    assert default == labels("--threshold", repr(threshold))
    assert "unknown" in default and "unknown" not in labels("--threshold", "none")


def test_a_new_card_in_torchscript_keeps_the_model_and_is_read_back(exported_run, tmp_path):
    from edgeclass.runtime import load_backend
    from edgeclass.artifacts import write_card

    ts = tmp_path / "model.ts"
    shutil.copy(exported_run / "weights" / "model.ts", ts)
    x = np.random.default_rng(0).random((2, 3, 32, 32), dtype=np.float32)
    with load_backend(ts) as b:
        before, card = b.predict(x), b.card
    write_card(ts, card.replace(threshold=0.5))
    with load_backend(ts) as b:
        assert b.card.threshold == 0.5 and b.card.classes == card.classes
        np.testing.assert_array_equal(b.predict(x), before)


def test_a_new_onnx_card_does_not_make_its_engines_stale(exported_run, tmp_path):
    """Engines remember the sha256 of their source ONNX; a card change alone must not outdate them."""
    from edgeclass.runtime import load_backend
    from edgeclass.spec import sha256_file
    from edgeclass.artifacts import write_card

    weights = tmp_path / "weights"
    shutil.copytree(exported_run / "weights", weights)
    onnx = weights / "model.onnx"
    old = sha256_file(onnx)
    in_sync = {"format": "x", "source_onnx": {"file": "model.onnx", "sha256": old}, "card": {}}
    already_stale = {"format": "x", "source_onnx": {"file": "model.onnx", "sha256": "0" * 64}, "card": {}}
    (weights / "model.fp16.engine.json").write_text(json.dumps(in_sync))
    (weights / "model.int8.engine.json").write_text(json.dumps(already_stale))
    with load_backend(onnx) as b:
        write_card(onnx, b.card.replace(threshold=0.25))
    new = sha256_file(onnx)
    assert new != old
    assert json.loads((weights / "model.fp16.engine.json").read_text())["source_onnx"]["sha256"] == new
    assert json.loads((weights / "model.int8.engine.json").read_text())["source_onnx"]["sha256"] == "0" * 64
