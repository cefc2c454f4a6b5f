"""Backends: the suffix picks the library, the card comes from inside the artifact, any batch size works."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from edgeclass.errors import EdgeclassError
from edgeclass.preprocess import preprocess_file, stack
from edgeclass.runtime import Classifier, load_backend
from edgeclass.artifacts.onnx import METADATA_KEY as ONNX_METADATA_KEY
from edgeclass.spec import ModelCard, Preprocess


def tiny_onnx(path: Path, classes: int, card_classes: int | None, batch=None, size: int = 8) -> Path:
    """A real ONNX model (mean over pixels, then a fixed linear map to ``classes`` outputs) with an
    optional card listing ``card_classes`` names."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    w = np.arange(3 * classes, dtype=np.float32).reshape(3, classes) / 10.0
    nodes = [
        helper.make_node("GlobalAveragePool", ["images"], ["pooled"]),
        helper.make_node("Flatten", ["pooled"], ["flat"]),
        helper.make_node("MatMul", ["flat", "w"], ["logits"]),
    ]
    graph = helper.make_graph(
        nodes, "tiny",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch or "N", 3, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [batch or "N", classes])],
        [numpy_helper.from_array(w, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if card_classes is not None:
        card = ModelCard(classes=[f"c{i}" for i in range(card_classes)], arch="tiny",
                         preprocess=Preprocess(imgsz=size, resize=size, mode="stretch"))
        helper.set_model_props(model, {ONNX_METADATA_KEY: card.to_json()})
    onnx.save(model, str(path))
    return path


def test_every_exported_format_gives_the_same_logits_with_its_own_card(exported_run, digits_root):
    w = exported_run / "weights"
    files = sorted(digits_root.glob("three/*.png"))[:5]
    ref = None
    for name, kind in [("best.pt", "pytorch"), ("model.ts", "torchscript"), ("model.onnx", "onnxruntime"), ("model.fp16.onnx", "onnxruntime")]:
        be = load_backend(w / name)
        assert be.name == kind
        assert be.card.classes == sorted(p.name for p in digits_root.iterdir() if p.is_dir())
        x = stack([preprocess_file(f, be.card.preprocess) for f in files])
        out = be.predict(x)
        assert out.shape == (5, 10) and out.dtype == np.float32
        if ref is None:
            ref = out
        atol = 0.05 if "fp16" in name else 1e-3
        np.testing.assert_allclose(out, ref, atol=atol, rtol=0.01)
        assert [be.card.classes[i] for i in out.argmax(1)].count("three") >= 4
        be.close()


def test_onnx_backend_describes_itself_and_handles_any_batch(exported_run):
    be = load_backend(exported_run / "weights" / "model.onnx")
    assert be.describe().startswith("onnxruntime ") and "CPUExecutionProvider" in be.describe()
    x = np.random.default_rng(0).random((7, 3, 32, 32), dtype=np.float32)
    assert be.predict(x).shape == (7, 10)
    assert be.predict(x[:0]).shape == (0, 10)
    with pytest.raises(EdgeclassError, match="expected input"):
        be.predict(x[:, :, :16])


def test_fixed_batch_model_is_padded_and_chunked(tmp_path):
    be = load_backend(tiny_onnx(tmp_path / "fixed.onnx", classes=3, card_classes=3, batch=2))
    assert be.max_batch == 2 and be.fixed_batch
    x = np.random.default_rng(1).random((5, 3, 8, 8), dtype=np.float32)
    out = be.predict(x)
    w = np.arange(9, dtype=np.float32).reshape(3, 3) / 10.0
    np.testing.assert_allclose(out, x.mean(axis=(2, 3)) @ w, rtol=1e-5, atol=1e-6)


def test_model_without_card_or_with_wrong_class_count_is_refused(tmp_path):
    with pytest.raises(EdgeclassError, match="has no edgeclass model card"):
        load_backend(tiny_onnx(tmp_path / "nocard.onnx", classes=3, card_classes=None))
    with pytest.raises(EdgeclassError, match="3 outputs but its model card lists 4 classes"):
        load_backend(tiny_onnx(tmp_path / "mismatch.onnx", classes=3, card_classes=4))


def test_unknown_suffix_missing_file_and_garbage_are_one_line_errors(tmp_path):
    (tmp_path / "model.h5").write_bytes(b"x")
    with pytest.raises(EdgeclassError, match="unknown model type '.h5'"):
        load_backend(tmp_path / "model.h5")
    with pytest.raises(EdgeclassError, match="does not exist"):
        load_backend(tmp_path / "absent.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(EdgeclassError, match="not a loadable ONNX model"):
        load_backend(tmp_path / "junk.onnx")
    with pytest.raises(EdgeclassError, match="tensorrt|TensorRT"):
        (tmp_path / "m.engine").write_bytes(b"x")
        load_backend(tmp_path / "m.engine")


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torchscript_without_card_is_refused(tmp_path, exported_run):
    import torch

    ts = torch.jit.load(str(exported_run / "weights" / "model.ts"))
    torch.jit.save(ts, str(tmp_path / "bare.ts"))  # saved without _extra_files
    with pytest.raises(EdgeclassError, match="has no edgeclass model card"):
        load_backend(tmp_path / "bare.ts")


def test_classifier_threshold_from_card_and_bad_frames(tmp_path, exported_run, digits_root):
    import cv2

    img = cv2.imread(str(sorted(digits_root.glob("seven/*.png"))[0]))
    clf = Classifier(exported_run / "weights" / "model.onnx")
    label, conf = clf(img)
    assert label == "seven" and 0.5 < conf <= 1.0
    assert Classifier(clf.backend, threshold=0.999999).classify(img).label in ("unknown", "seven")
    assert Classifier(clf.backend, threshold=1.0).classify(img).label == "unknown"
    clf.backend.card = clf.backend.card.replace(threshold=1.0)  # as `edgeclass eval --split val` would set it
    assert Classifier(clf.backend)(img)[0] == "unknown"
    assert Classifier(clf.backend, threshold=None)(img)[0] == "seven"
    with pytest.raises(ValueError, match="uint8"):
        clf(img.astype(np.float32))
    with pytest.raises(ValueError, match="HxWx3"):
        clf(np.zeros((8, 8, 5), np.uint8))
    with pytest.raises(TypeError):
        clf([[1, 2], [3, 4]])
    top = clf.classify(img).topk
    assert len(top) == 5 and top[0][0] == "seven" and top[0][1] >= top[1][1]


@pytest.mark.parametrize("pp", [Preprocess.for_size(224), Preprocess(imgsz=32, resize=32, mode="stretch")])
def test_in_place_preprocessing_is_the_shared_preprocessing_bit_for_bit(pp):
    """The pipeline's allocation-free path must give exactly edgeclass.preprocess's tensor."""
    from edgeclass.preprocess import preprocess_bgr, preprocess_rgb

    class CardOnly:  # Classifier only reads .card for preprocessing
        card = ModelCard(classes=["a", "b"], arch="x", preprocess=pp)

    rng = np.random.default_rng(0)
    for bgr in (True, False):
        clf = Classifier(CardOnly(), bgr=bgr)
        for shape in [(480, 640, 3), (100, 50, 3), (64, 64), (30, 40, 4)]:
            frame = rng.integers(0, 256, shape, dtype=np.uint8)
            out = np.full((3, pp.imgsz, pp.imgsz), np.nan, np.float32)
            clf.preprocess(frame, out=out)
            if bgr or len(shape) == 2:
                ref = preprocess_bgr(frame, pp)
            else:
                ref = preprocess_rgb(frame if shape[2] == 3 else frame[..., :3], pp)
            assert np.array_equal(out, ref), (bgr, shape)
