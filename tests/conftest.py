"""Shared fixtures. Everything here is small: 32 px digits, a tiny CNN, a few seconds of CPU."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "2")


@pytest.fixture(scope="session")
def digits_root(tmp_path_factory) -> Path:
    """The demo dataset (scikit-learn digits, 1,797 real scans, 10 classes) as 32 px PNGs with a
    stratified split manifest ``splits.csv``. Session-scoped: treat it as read-only."""
    from edgeclass.data.demo import write_digits
    from edgeclass.data.manifest import MANIFEST_NAME, discover, write_manifest

    root = tmp_path_factory.mktemp("digits")
    write_digits(root)
    ds = discover(root)
    by_class = {}
    for s in ds.samples:
        by_class.setdefault(s.label, []).append(s)
    samples = []
    for label, items in by_class.items():
        for i, s in enumerate(items):
            k = i % 20
            split = "train" if k < 14 else ("val" if k < 17 else "test")
            samples.append(s.with_split(split))
    write_manifest(root / MANIFEST_NAME, samples)
    return root


@pytest.fixture(scope="session")
def trained_run(tmp_path_factory, digits_root) -> Path:
    """A run folder with ``weights/best.pt`` (simplecnn, 32 px, trained a few epochs on the digits,
    >= 90% test top-1) and ``config.json`` naming its dataset. Session-scoped: read-only.
    Made by the real trainer (``demo`` recipe, 8 epochs), so it is a complete run folder:
    weights/{best,last}.pt, config.json, splits.csv, model_card.json, results.csv, metrics.json, plots."""
    from edgeclass.train.config import resolve_config
    from edgeclass.train.trainer import train

    project = tmp_path_factory.mktemp("runs")
    cfg = resolve_config("demo", data=str(digits_root), epochs=8, project=str(project), name="demo", device="cpu", seed=0)
    result = train(cfg, log=lambda _msg: None)
    assert result.test is not None and result.test.top1 >= 0.9, f"fixture model too weak: {result.test}"
    return result.run_dir


@pytest.fixture(scope="session")
def exported_run(tmp_path_factory, trained_run) -> Path:
    """A copy of ``trained_run`` with ``weights/model.onnx``, ``model.ts``, ``model.fp16.onnx`` (and
    ``parity.json``) written by the real exporter (opset 17, dynamic batch). Session-scoped: read-only."""
    import shutil

    from edgeclass.export import ExportConfig, export

    run = tmp_path_factory.mktemp("exported") / "run"
    shutil.copytree(trained_run, run)
    result = export(ExportConfig(source=run, parity_images=64))
    assert result.ok, f"fixture export failed parity: {result.failed}"
    return run


@pytest.fixture(scope="session")
def calibrated_run(tmp_path_factory, exported_run) -> Path:
    """A copy of ``exported_run`` plus ``weights/model.int8.onnx`` (Q/DQ, TensorRT) and
    ``weights/model.int8-cpu.onnx`` (U8S8, ONNX Runtime CPU) and ``weights/calibration.json`` from a
    small calibration (200 TRAIN images, minmax). Session-scoped: read-only."""
    import shutil

    from edgeclass.calibration.pipeline import CalibrationConfig, run_calibration

    run = tmp_path_factory.mktemp("calibrated") / "run"
    shutil.copytree(exported_run, run)
    result = run_calibration(CalibrationConfig(source=run, num=200, batch=20))
    assert result.ok, f"fixture calibration exceeded its drop budget: {[(m.name, m.drop_points) for m in result.models]}"
    return run


@pytest.fixture(scope="session")
def mtcnn_models(tmp_path_factory) -> Path:
    """A model folder with MTCNN's three ONNX files, converted by the real converter from the
    facenet-pytorch wheel (``make setup`` installs it --no-deps). Session-scoped: read-only."""
    from edgeclass.errors import EdgeclassError
    from edgeclass.export.mtcnn import convert_mtcnn, wheel_weights_dir

    try:
        wheel_weights_dir()
    except EdgeclassError as e:
        pytest.skip(f"MTCNN weights unavailable: {e}")
    folder = tmp_path_factory.mktemp("face-models")
    convert_mtcnn(folder, log=lambda _msg: None)
    return folder


@pytest.fixture(scope="session")
def group_frame():
    """The insightface sdist's group photo (six faces, labelled), fetched once with pip into the
    edgeclass cache (``make face-testdata``); skipped, with the reason printed, when pip cannot."""
    from edgeclass.errors import EdgeclassError
    from edgeclass.tools.face_samples import group_photo

    try:
        return group_photo()
    except EdgeclassError as e:
        print(f"group photo unavailable: {e}")
        pytest.skip(f"group photo unavailable: {e}")


@pytest.fixture(scope="session")
def resnet18_qdq(tmp_path_factory) -> dict:
    """A torchvision ResNet-18 (random weights, 10 classes, 64 px) exported by the project's own ONNX
    exporter (opset 17) and quantized from one calibration (32 random images, minmax) three ways:
    ``trt`` (TensorRT placement, model.int8.onnx), ``ort`` (ONNX Runtime's default placement with the
    TensorRT target's signed settings: what model.int8.onnx used to be) and ``cpu`` (U8S8). Also
    ``fp32``, ``ranges`` (the calibration cache) and ``images``. Session-scoped: read-only."""
    import numpy as np
    import onnx
    import torch

    from edgeclass.calibration.quantize import CPU, TENSORRT, Target, calibrate, ensure_node_names, quantize
    from edgeclass.export.onnx_export import export_onnx
    from edgeclass.spec import ModelCard, Preprocess
    from edgeclass.train.models import build_model

    work = tmp_path_factory.mktemp("resnet18_qdq")
    torch.manual_seed(0)
    card = ModelCard(classes=[f"c{i}" for i in range(10)], arch="resnet18", preprocess=Preprocess.for_size(64))
    fp32 = export_onnx(build_model(card).eval(), card, work / "model.onnx", torch.rand(1, 3, 64, 64))
    model = onnx.load(str(fp32))
    ensure_node_names(model)
    onnx.save(model, str(fp32))
    images = np.random.default_rng(0).random((32, 3, 64, 64), dtype=np.float32)
    ranges = calibrate(fp32, images, 16, "minmax", work / "ranges.json")
    ort_default = Target("int8-ort-default", "model.int8-ort.onnx", signed_activations=True)
    out = {"fp32": fp32, "ranges": ranges, "images": images}
    for key, target in (("trt", TENSORRT), ("ort", ort_default), ("cpu", CPU)):
        out[key] = quantize(fp32, work / target.file_name, target, ranges, "minmax")
    return out
