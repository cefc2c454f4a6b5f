"""CPU inference speed of every export: ONNX Runtime fp32 / fp16 / int8-cpu (U8S8) / int8 (Q/DQ for
TensorRT), and TorchScript vs PyTorch eager, for ResNet-18 and ResNet-50 at 224 px.

Random-init weights (speed does not depend on the values) calibrated on random images. Images/s is
batch / fastest call (robust on a shared machine). Prints a Markdown table. Usage:

    .venv/bin/python benchmarks/onnx_cpu.py                 # resnet18 + resnet50, batch 1 and 16
    .venv/bin/python benchmarks/onnx_cpu.py --archs resnet18 --seconds 2
    .venv/bin/python benchmarks/onnx_cpu.py --run runs/demo # also print the demo run's INT8 accuracy
    .venv/bin/python benchmarks/onnx_cpu.py --threads 1     # one core (steadier on a busy machine)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List

import numpy as np


def interleaved_images_per_second(fns: Dict[str, Callable[[], object]], batch: int, seconds: float,
                                  min_rounds: int = 3) -> Dict[str, float]:
    """images/s of each function: warm each up, then call them in turn (round-robin) for about
    ``seconds`` per function and keep each one's fastest call. On a shared machine the minimum is the
    stable number (other load only adds time) and round-robin exposes every variant to the same load,
    so the ratios stay fair."""
    for fn in fns.values():
        fn()
    best = {k: float("inf") for k in fns}
    rounds, start = 0, time.perf_counter()
    while rounds < min_rounds or time.perf_counter() - start < seconds * len(fns):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            best[k] = min(best[k], time.perf_counter() - t)
        rounds += 1
    return {k: batch / v for k, v in best.items()}


def build_artifacts(arch: str, imgsz: int, work: Path, calib_images: int) -> Dict[str, Path]:
    import torch

    from edgeclass.calibration.quantize import TARGETS, calibrate, quantize
    from edgeclass.export.fp16 import convert_fp16
    from edgeclass.export.onnx_export import export_onnx
    from edgeclass.spec import ModelCard, Preprocess
    from edgeclass.train.models import build_model

    torch.manual_seed(0)
    card = ModelCard(classes=[f"c{i}" for i in range(10)], arch=arch, preprocess=Preprocess.for_size(imgsz))
    model = build_model(card).eval()
    paths = {"fp32": export_onnx(model, card, work / f"{arch}.onnx", torch.rand(1, 3, imgsz, imgsz))}
    paths["fp16"] = convert_fp16(paths["fp32"], card.replace(precision="fp16"), work / f"{arch}.fp16.onnx")
    rng = np.random.default_rng(0)
    calib = rng.random((calib_images, 3, imgsz, imgsz), dtype=np.float32)
    cache = calibrate(paths["fp32"], calib, batch=8, method="minmax", cache_path=work / f"{arch}.ranges.json")
    for target in TARGETS:
        paths[target.name] = quantize(paths["fp32"], work / f"{arch}.{target.file_name}", target, cache, "minmax")
    return paths


def bench_arch(arch: str, imgsz: int, batches: List[int], seconds: float, calib_images: int, threads: int) -> List[dict]:
    import onnxruntime as ort
    import torch

    from edgeclass.spec import ModelCard, Preprocess
    from edgeclass.train.models import build_model

    rows = []
    with tempfile.TemporaryDirectory(prefix="edgeclass-bench-") as tmp:
        t0 = time.perf_counter()
        paths = build_artifacts(arch, imgsz, Path(tmp), calib_images)
        print(f"# {arch}: exported and quantized in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        opts.intra_op_num_threads = threads
        sessions = {k: ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"]) for k, p in paths.items()}
        card = ModelCard(classes=[f"c{i}" for i in range(10)], arch=arch, preprocess=Preprocess.for_size(imgsz))
        torch.manual_seed(0)
        eager = build_model(card).eval()
        with torch.no_grad():
            traced = torch.jit.trace(eager, torch.rand(1, 3, imgsz, imgsz))
        for batch in batches:
            x = np.random.default_rng(1).random((batch, 3, imgsz, imgsz), dtype=np.float32)
            xt = torch.from_numpy(x)
            fns: Dict[str, Callable[[], object]] = {
                f"onnx {name}": (lambda s=sess: s.run(None, {"images": x})) for name, sess in sessions.items()
            }

            def run_torch(m):
                with torch.no_grad():
                    return m(xt)

            fns["torch eager"] = lambda: run_torch(eager)
            fns["torchscript"] = lambda: run_torch(traced)
            speeds = interleaved_images_per_second(fns, batch, seconds)
            rows.append({"arch": arch, "batch": batch, **speeds})
            print(f"# {arch} batch {batch}: " + ", ".join(f"{k} {v:.1f}" for k, v in speeds.items()), file=sys.stderr)
    return rows


def markdown(rows: List[dict]) -> str:
    head = ("| model | batch | ORT fp32 img/s | ORT fp16 | ORT int8-cpu (U8S8) | ORT int8 (Q/DQ, TensorRT) "
            "| int8-cpu / fp32 | int8 / fp32 | eager img/s | TorchScript | TS / eager |")
    lines = [head, "|" + "|".join(["---"] * (head.count("|") - 1)) + "|"]
    for r in rows:
        fp32 = r["onnx fp32"]
        lines.append(
            f"| {r['arch']} | {r['batch']} | {fp32:.1f} | {r['onnx fp16']:.1f} | {r['onnx int8-cpu']:.1f} | {r['onnx int8']:.1f} "
            f"| {r['onnx int8-cpu'] / fp32:.2f}x | {r['onnx int8'] / fp32:.2f}x | {r['torch eager']:.1f} | {r['torchscript']:.1f} "
            f"| {r['torchscript'] / r['torch eager']:.2f}x |"
        )
    return "\n".join(lines)


def run_accuracy(run: Path) -> str:
    report = json.loads((run / "weights" / "calibration.json").read_text())
    lines = [f"INT8 accuracy of {run} ({report['test_images']} TEST images, {report['calibration_images']} calibration images, {report['method']}):",
             "", "| model | top-1 | drop (points) | agreement with fp32 |", "|---|---|---|---|",
             f"| fp32 | {report['fp32_top1']:.2%} | | |"]
    for m in report["models"]:
        lines.append(f"| {m['name']} | {m['top1']:.2%} | {m['drop_points']:.2f} | {m['agreement']:.2%} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", default="resnet18,resnet50")
    ap.add_argument("--imgsz", type=int, default=224)
    ap.add_argument("--batches", default="1,16")
    ap.add_argument("--seconds", type=float, default=4.0, help="timed seconds per measurement")
    ap.add_argument("--calib-images", type=int, default=32)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="ONNX Runtime and torch threads")
    ap.add_argument("--run", type=Path, default=None, help="also print this run's calibration.json accuracy")
    args = ap.parse_args(argv)
    import onnxruntime as ort
    import torch

    torch.set_num_threads(args.threads)
    rows = []
    for arch in args.archs.split(","):
        rows += bench_arch(arch.strip(), args.imgsz, [int(b) for b in args.batches.split(",")], args.seconds,
                           args.calib_images, args.threads)
    cpu = platform.processor() or platform.machine()
    print(f"Machine: {os.cpu_count()}-core {cpu} CPU, torch {torch.__version__.split('+')[0]}, onnxruntime {ort.__version__}, "
          f"{args.threads} thread(s), {args.imgsz} px, random weights\n")
    print(markdown(rows))
    if args.run:
        print("\n" + run_accuracy(args.run))
    return 0


if __name__ == "__main__":
    sys.exit(main())
