"""Every architecture on the project's own data: accuracy fp32 / INT8 (both flavours) and CPU latency
fp32 / INT8, in one table.

For each architecture: train on the digits demo set (scikit-learn's 1,797 scans, 10 classes, the
`edgeclass data split` manifest) at ``--imgsz`` (default 64 px) for ``--epochs`` with the ``default``
recipe minus flips (digits are not mirror-symmetric), from ``--weights`` (default none: these machines
cannot download ImageNet weights; pass imagenet where they can); export; calibrate (minmax, TRAIN
images) with the accuracy budget ``--max-drop`` and its sensitivity fallback, which keeps the most
sensitive layers in float until the TEST top-1 drop fits. Then latency: the same checkpoint exported
at ``--latency-imgsz`` (224), quantized for the CPU with the same float layers, timed with ONNX
Runtime on the CPU, batch 1, ``--threads`` threads, fastest of interleaved calls (onnx_cpu.py's
method: on a shared machine the minimum is the stable number, and the ratios are fair).

    .venv/bin/python benchmarks/backbones.py                                  # everything (long: an hour or more on 2 cores)
    .venv/bin/python benchmarks/backbones.py --archs resnet18,regnet_y_400mf --epochs 1 --per-class 40
    .venv/bin/python benchmarks/backbones.py --write                          # also store latencies for `edgeclass models list`

Prints a Markdown table; ``--write`` stores the numbers in src/edgeclass/train/archs_measured.json.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from onnx_cpu import interleaved_images_per_second  # noqa: E402  (the project's timing method)

SPEEDUP_TARGET, DROP_TARGET = 2.5, 0.5


def machine() -> str:
    try:
        names = [ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if ln.startswith("model name")]
    except OSError:
        names = []
    return f"{os.cpu_count()}-core {names[0] if names else platform.processor() or platform.machine()}"


def digits(root: Path, per_class: Optional[int]) -> Path:
    """The digits demo set and its split; with ``per_class``, a manifest of that many TRAIN images per
    class (val and test stay whole, so accuracy is measured on the same images)."""
    from edgeclass.data.demo import write_digits
    from edgeclass.data.manifest import MANIFEST_NAME, read_manifest, write_manifest
    from edgeclass.data.split import split_folder

    write_digits(root)
    split_folder(root, seed=0)  # what `edgeclass data split` writes
    if not per_class:
        return root / MANIFEST_NAME
    samples, _ = read_manifest(root / MANIFEST_NAME)
    seen: Dict[str, int] = {}
    keep = []
    for s in samples:
        if s.split == "train":
            seen[s.label] = seen.get(s.label, 0) + 1
            if seen[s.label] > per_class:
                continue
        keep.append(s)
    write_manifest(root / "bench.csv", keep)
    return root / "bench.csv"


def train_run(arch: str, data: Path, manifest: Path, args, project: Path) -> Path:
    from edgeclass.train.config import resolve_config
    from edgeclass.train.trainer import train

    cfg = resolve_config("default", data=str(data), manifest=str(manifest), arch=arch, weights=args.weights,
                         epochs=args.epochs, batch=args.batch, imgsz=args.imgsz, augment="none", workers=0,
                         device="cpu", patience=0, project=str(project), name=arch, exist_ok=True)
    return train(cfg, log=lambda m: print(f"  {m}", file=sys.stderr)).run_dir


def accuracy(run: Path, args):
    from edgeclass.calibration.pipeline import CalibrationConfig, run_calibration
    from edgeclass.export import ExportConfig, export

    result = export(ExportConfig(source=run, formats=("onnx",), parity_images=64))
    if not result.ok:
        raise SystemExit(f"{run}: export parity failed: {result.failed}")
    return run_calibration(CalibrationConfig(source=run, num=args.calib_images, batch=16, max_drop=args.max_drop,
                                             sensitivity_images=args.sensitivity_images))


def latency_models(run: Path, data: Path, float_layers: List[str], args, work: Path) -> Dict[str, Path]:
    """fp32 and INT8 CPU ONNX of ``run`` at ``--latency-imgsz``, the INT8 one with ``float_layers`` in float."""
    import onnx

    from edgeclass.calibration.dataset import calibration_images
    from edgeclass.calibration.onnx_card import onnx_card
    from edgeclass.calibration.quantize import CPU, calibrate, ensure_node_names, quantize
    from edgeclass.data.manifest import load_dataset
    from edgeclass.export import ExportConfig, export

    out = work / run.name
    export(ExportConfig(source=run, formats=("onnx",), imgsz=args.latency_imgsz, out=out, parity_images=0))
    model = onnx.load(str(out / "model.onnx"))
    ensure_node_names(model)  # the names the accuracy run's float layers refer to
    named = out / "named.onnx"
    onnx.save_model(model, str(named))
    card = onnx_card(model, str(named))
    images = calibration_images(load_dataset(data, run / "splits.csv"), card, 32, 0)
    cache = calibrate(named, images, 16, "minmax", out / "ranges.json")
    return {"fp32": named, "int8-cpu": quantize(named, out / "model.int8-cpu.onnx", CPU, cache, "minmax", exclude=float_layers)}


def latency_ms(paths: Dict[str, Path], imgsz: int, threads: int, seconds: float) -> Dict[str, float]:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = threads
    x = np.random.default_rng(0).random((1, 3, imgsz, imgsz), dtype=np.float32)
    sessions = {k: ort.InferenceSession(str(p), opts, providers=["CPUExecutionProvider"]) for k, p in paths.items()}
    speeds = interleaved_images_per_second({k: (lambda s=s: s.run(None, {"images": x})) for k, s in sessions.items()}, 1, seconds)
    return {k: 1000.0 / v for k, v in speeds.items()}


def bench(arch: str, data: Path, manifest: Path, args, work: Path) -> dict:
    from edgeclass.train.archs import arch_info

    t0 = time.perf_counter()
    run = train_run(arch, data, manifest, args, work / "runs")
    t1 = time.perf_counter()
    cal = accuracy(run, args)
    t2 = time.perf_counter()
    models = {m.name: m for m in cal.models}
    cpu = models["int8-cpu"]
    if arch_info(arch).builder is None:  # simplecnn's head is sized for its training input: time it there
        size, paths = args.imgsz, {"fp32": run / "weights" / "model.onnx", "int8-cpu": Path(cpu.path)}
    else:
        size, paths = args.latency_imgsz, latency_models(run, data, cpu.float_layers, args, work / "latency")
    ms = latency_ms(paths, size, args.threads, args.seconds)
    row = {
        "arch": arch, "top1_fp32": cal.fp32_top1, "top1_int8": models["int8"].top1, "top1_int8_cpu": cpu.top1,
        "drop_int8": models["int8"].drop_points, "drop_int8_cpu": cpu.drop_points,
        "float_layers_int8": len(models["int8"].float_layers), "float_layers_int8_cpu": len(cpu.float_layers),
        "initial_drop_int8_cpu": cpu.initial_drop_points, "fp32_ms": ms["fp32"], "int8_cpu_ms": ms["int8-cpu"],
        "latency_imgsz": size, "train_s": t1 - t0, "calibrate_s": t2 - t1,
    }
    print(f"# {arch}: " + ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items() if k != "arch"),
          file=sys.stderr, flush=True)
    return row


def verdict(r: dict) -> str:
    speed = r["fp32_ms"] / r["int8_cpu_ms"]
    misses = []
    if speed < SPEEDUP_TARGET:
        misses.append(f"speed-up {speed:.2f}x < {SPEEDUP_TARGET}x")
    if r["drop_int8_cpu"] > DROP_TARGET:
        misses.append(f"drop {r['drop_int8_cpu']:.2f} > {DROP_TARGET} pt")
    return "meets" if not misses else "misses: " + ", ".join(misses)


def markdown(rows: List[dict], args) -> str:
    head = ("| arch | top-1 fp32 | int8 (TensorRT Q/DQ) | int8-cpu (U8S8) | drop int8 / int8-cpu (pt) | float layers int8 / cpu "
            "| fp32 ms | int8-cpu ms | speed-up | 2.5x and <= 0.5 pt |")
    lines = [head, "|" + "|".join(["---"] * (head.count("|") - 1)) + "|"]
    for r in rows:
        at = "" if r["latency_imgsz"] == args.latency_imgsz else f" ({r['latency_imgsz']} px)"
        lines.append(
            f"| {r['arch']} | {r['top1_fp32']:.2%} | {r['top1_int8']:.2%} | {r['top1_int8_cpu']:.2%} "
            f"| {r['drop_int8']:.2f} / {r['drop_int8_cpu']:.2f} | {r['float_layers_int8']} / {r['float_layers_int8_cpu']} "
            f"| {r['fp32_ms']:.1f}{at} | {r['int8_cpu_ms']:.1f}{at} | {r['fp32_ms'] / r['int8_cpu_ms']:.2f}x | {verdict(r)} |"
        )
    return "\n".join(lines)


def write_measured(rows: List[dict], args, command: str) -> Path:
    from edgeclass.fileio import write_json_atomic
    from edgeclass.train.archs import MEASURED_FILE

    doc = {
        "date": datetime.date.today().isoformat(), "machine": machine(), "command": command, "threads": args.threads,
        "latency_imgsz": args.latency_imgsz, "accuracy": f"digits at {args.imgsz} px, {args.epochs} epoch(s), weights {args.weights}",
        "archs": {r["arch"]: {k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items() if k != "arch"} for r in rows},
    }
    return write_json_atomic(MEASURED_FILE, doc)


def main(argv=None) -> int:
    from edgeclass.train.archs import ARCH_NAMES

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", default=",".join(ARCH_NAMES))
    ap.add_argument("--imgsz", type=int, default=64, help="training / accuracy input size")
    ap.add_argument("--latency-imgsz", type=int, default=224)
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--per-class", type=int, default=0, help="TRAIN images per class (0: all, about 126)")
    ap.add_argument("--weights", default="none", help="none | imagenet")
    ap.add_argument("--max-drop", type=float, default=DROP_TARGET, help="INT8 accuracy budget in top-1 points")
    ap.add_argument("--calib-images", type=int, default=256)
    ap.add_argument("--sensitivity-images", type=int, default=128)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seconds", type=float, default=3.0, help="timed seconds per latency measurement")
    ap.add_argument("--write", action="store_true", help="store the numbers for `edgeclass models list`")
    args = ap.parse_args(argv)
    import onnxruntime as ort
    import torch

    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory(prefix="edgeclass-backbones-") as tmp:
        work = Path(tmp)
        manifest = digits(work / "digits", args.per_class)
        for arch in [a.strip() for a in args.archs.split(",") if a.strip()]:
            rows.append(bench(arch, work / "digits", manifest, args, work))
    print(f"Machine: {machine()}, torch {torch.__version__.split('+')[0]}, onnxruntime {ort.__version__}, {args.threads} threads; "
          f"accuracy: digits at {args.imgsz} px, {args.epochs} epochs, weights {args.weights}, INT8 budget {args.max_drop} pt; "
          f"latency: batch 1 at {args.latency_imgsz} px; load average {os.getloadavg()[0]:.1f} at end\n")
    print(markdown(rows, args))
    if args.write:
        print(f"\nwrote {write_measured(rows, args, 'benchmarks/backbones.py ' + ' '.join(argv if argv is not None else sys.argv[1:]))}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
