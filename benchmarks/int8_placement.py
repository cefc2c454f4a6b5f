"""INT8 placement accuracy on the CPU (ONNX Runtime): the placement model.int8.onnx used to have
(ONNX Runtime's default: every op's output quantized), the TensorRT-style opset-17 placement it has
now, NVIDIA ModelOpt's opset-19 PTQ with fp16 and with fp32 high precision, and the U8S8 CPU file.

Same calibration images (TRAIN, stratified, max calibration) and same TEST images for all. Models:
the demo simplecnn (32 px) and a ResNet-18 trained briefly from scratch on the digits demo set
(``--r18-imgsz``, default 64 px: 224 px training takes far too long on a 2-core CPU; the placement
question does not depend on the size). Columns:

- rel. err: ``calibration.evaluate.relative_logit_error`` = sum (q - f)^2 / sum f^2 over TEST logits
- mean |d| / mean |f|: mean absolute logit error over mean absolute fp32 logit
- top-1 and its drop vs fp32 (points)
- polygraphy@0.05: share of TEST images whose every logit passes polygraphy's default elementwise
  check at atol = rtol = 0.05 (an element fails only if |d| > atol and |d| / |f| > rtol)
- lint: TensorRT placement findings (``check_trt_friendly``; errors/warnings) against the file's parser

Usage: .venv/bin/python benchmarks/int8_placement.py [--work DIR] [--r18-epochs 4] [--r18-imgsz 64] [--num 500]
(about 10 minutes on a 2-core CPU; prints a Markdown table).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List

import numpy as np


def polygraphy_pass_rate(ref: np.ndarray, got: np.ndarray, atol: float = 0.05, rtol: float = 0.05) -> float:
    absdiff = np.abs(got.astype(np.float64) - ref)
    reldiff = absdiff / np.where(ref == 0, np.finfo(np.float64).eps, np.abs(ref))
    mismatch = (absdiff > atol) & (reldiff > rtol)
    return float(np.mean(~mismatch.any(axis=1)))


def make_runs(work: Path, r18_epochs: int, r18_imgsz: int) -> Dict[str, Path]:
    from edgeclass.data.demo import write_digits
    from edgeclass.data.manifest import MANIFEST_NAME
    from edgeclass.data.split import split_folder
    from edgeclass.export import ExportConfig, export
    from edgeclass.train.config import resolve_config
    from edgeclass.train.trainer import train

    data = work / "digits"
    if not (data / MANIFEST_NAME).is_file():
        write_digits(data)
        split_folder(data, seed=0)  # what `edgeclass data split` does
    runs = {}
    for name, cfg in (
        ("simplecnn-32px", dict(recipe="demo")),
        (f"resnet18-{r18_imgsz}px", dict(recipe="default", arch="resnet18", weights="none", imgsz=r18_imgsz,
                                         epochs=r18_epochs, batch=64, workers=0, patience=0, warmup_epochs=0.5)),
    ):
        run = work / "runs" / name
        if not (run / "weights" / "model.onnx").is_file():
            t0 = time.perf_counter()
            recipe = cfg.pop("recipe")
            train(resolve_config(recipe, data=str(data), project=str(work / "runs"), name=name, exist_ok=True,
                                 device="cpu", seed=0, **cfg), log=lambda _m: None)
            export(ExportConfig(source=run, formats=("onnx",), parity_images=0))
            print(f"# {name}: trained and exported in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        runs[name] = run
    return runs


def evaluate_run(run: Path, num: int, batch: int) -> List[dict]:
    import onnx

    from edgeclass.artifacts import onnx as onnx_artifact
    from edgeclass.calibration.evaluate import relative_logit_error
    from edgeclass.data.image_sets import DataSource, calibration_images, split_images
    from edgeclass.inference import onnx_logits
    from edgeclass.runs import Run
    from edgeclass.calibration.int8_targets import MODELOPT, PARSER_MAX_OPSET
    from edgeclass.calibration.lint import check_trt_friendly
    from edgeclass.calibration.modelopt_ptq import modelopt_version, quantize_modelopt
    from edgeclass.calibration.quantize import CPU, TENSORRT, Target, calibrate, ensure_node_names, quantize

    fp32 = run / "weights" / "model.onnx"
    card = onnx_artifact.read_card(fp32)
    ds = DataSource.of_run(Run.find(run)).load()
    calib = calibration_images(ds, card, num, seed=0)
    test_x, test_y = split_images(ds, card, "test")
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgeclass-placement-") as tmp:
        work = Path(tmp)
        model = onnx_artifact.load(fp32)
        ensure_node_names(model)
        named = work / "model.onnx"
        onnx.save(model, str(named))
        ranges = calibrate(named, calib, batch, "minmax", work / "ranges.json")
        ref = onnx_logits(named, test_x)
        variants = [
            ("ONNX Runtime default (old model.int8.onnx)", "tensorrt", lambda p: quantize(
                named, p, Target("old", "old.onnx", signed_activations=True), ranges, "minmax")),
            ("TensorRT-style, opset 17 (model.int8.onnx)", "tensorrt", lambda p: quantize(named, p, TENSORRT, ranges, "minmax")),
        ]
        if modelopt_version():
            variants += [
                (f"ModelOpt {modelopt_version()}, opset 19, fp16 (model.int8-fp16.onnx)", MODELOPT.placement,
                 lambda p: quantize_modelopt(named, p, calib, batch, "fp16")),
                (f"ModelOpt {modelopt_version()}, opset 19, fp32", MODELOPT.placement,
                 lambda p: quantize_modelopt(named, p, calib, batch, "fp32")),
            ]
        else:
            print("# ModelOpt not installed: its rows are skipped (pip install 'edgeclass[modelopt]')", file=sys.stderr)
        variants.append(("U8S8 for the CPU (model.int8-cpu.onnx)", None, lambda p: quantize(named, p, CPU, ranges, "minmax")))
        fp32_top1 = float(np.mean(ref.argmax(1) == test_y))
        rows.append(dict(model=run.name, variant="fp32", rel=0.0, mad=0.0, top1=fp32_top1, drop=0.0, poly=1.0, lint="-"))
        for i, (label, placement, make) in enumerate(variants):
            path = make(work / f"v{i}.onnx")
            got = onnx_logits(path, test_x)
            top1 = float(np.mean(got.argmax(1) == test_y))
            lint = "-"
            if placement:
                findings = check_trt_friendly(path, PARSER_MAX_OPSET[placement])
                errs = sum(f.severity == "error" for f in findings)
                lint = "clean" if not findings else f"{errs} err / {len(findings) - errs} warn"
            rows.append(dict(
                model=run.name, variant=label, rel=relative_logit_error(ref, got),
                mad=float(np.mean(np.abs(got - ref)) / max(np.mean(np.abs(ref)), 1e-12)),
                top1=top1, drop=100.0 * (fp32_top1 - top1), poly=polygraphy_pass_rate(ref, got), lint=lint,
            ))
    print(f"# {run.name}: {len(calib)} calibration images, {len(test_y)} test images", file=sys.stderr)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--work", type=Path, help="keep datasets and runs here (default: a temporary folder)")
    ap.add_argument("--r18-epochs", type=int, default=4)
    ap.add_argument("--r18-imgsz", type=int, default=64)
    ap.add_argument("--num", type=int, default=500, help="calibration images (TRAIN)")
    ap.add_argument("--batch", type=int, default=20)
    a = ap.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    with tempfile.TemporaryDirectory(prefix="edgeclass-bench-") as tmp:
        work = a.work or Path(tmp)
        rows = []
        for run in make_runs(work, a.r18_epochs, a.r18_imgsz).values():
            rows += evaluate_run(run, a.num, a.batch)
    print("| model | INT8 file | rel. err | mean abs d / mean abs f | top-1 | drop (pt) | polygraphy@0.05 | TensorRT lint |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['model']} | {r['variant']} | {r['rel']:.2e} | {r['mad']:.4f} | {r['top1']:.2%} | {r['drop']:.2f} | "
              f"{r['poly']:.1%} | {r['lint']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
