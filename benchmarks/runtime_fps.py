"""End-to-end FPS of the live pipeline on a video file against the backend alone on ready tensors.

Same model, same backend: the ratio says how much capture, decoding, preprocessing and
post-processing cost on top of inference. The pipeline overlaps them with inference (a reader
thread decodes ahead, a prepare thread preprocesses into preallocated buffers while the model runs),
so the target is a ratio >= 0.95.

Models: a random-init ResNet-18 at 224 px (10 classes) exported to ONNX (fp32) through
``edgeclass.export``, and its INT8 ONNX Runtime CPU flavour (``model.int8-cpu.onnx``, U8S8 Q/DQ)
quantized with ``edgeclass.calibration``. Accuracy is irrelevant here; speed does not depend on the
weights' values.

    .venv/bin/python benchmarks/runtime_fps.py [--frames 100] [--rounds 5] [--size 640x480] [--work /tmp/edgeclass-fps]

Prints a Markdown table (docs/runtime.md, Speed).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np


def build_models(work: Path) -> dict:
    """model.onnx and model.int8-cpu.onnx of a random ResNet-18 at 224 px (cached in ``work``)."""
    weights = work / "weights"
    fp32, int8 = weights / "model.onnx", weights / "model.int8-cpu.onnx"
    if fp32.is_file() and int8.is_file():
        return {"fp32": fp32, "int8-cpu": int8}
    import torch

    from edgeclass.artifacts.onnx import write_card
    from edgeclass.calibration.quantize import CPU, calibrate, quantize
    from edgeclass.export import ExportConfig, export
    from edgeclass.spec import ModelCard, Preprocess
    from edgeclass.train.checkpoint import make_checkpoint, save_checkpoint
    from edgeclass.train.models import build_model

    torch.manual_seed(0)
    card = ModelCard(classes=[f"class{i}" for i in range(10)], arch="resnet18", preprocess=Preprocess.for_size(224))
    model = build_model(card).eval()
    save_checkpoint(weights / "best.pt", make_checkpoint(model, card))
    export(ExportConfig(source=weights / "best.pt", formats=("onnx",), parity_images=0))
    images = np.random.default_rng(0).random((32, 3, 224, 224), dtype=np.float32)
    cache = calibrate(fp32, images, batch=8, method="minmax", cache_path=work / "ranges.json")
    quantize(fp32, int8, CPU, cache, "minmax")
    write_card(int8, card.replace(precision="int8"))
    return {"fp32": fp32, "int8-cpu": int8}


def write_video(path: Path, frames: int, width: int, height: int) -> Path:
    """A moving crop of scikit-image's astronaut photo as an MJPG video (what a webcam gives)."""
    import cv2
    import skimage.data

    if path.is_file():
        return path
    src = cv2.cvtColor(skimage.data.astronaut(), cv2.COLOR_RGB2BGR)
    big = cv2.resize(src, (width * 2, height * 2))
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 30, (width, height))
    for i in range(frames):
        x = (i * 3) % width
        y = (i * 2) % height
        w.write(np.ascontiguousarray(big[y : y + height, x : x + width]))
    w.release()
    return path


def ready_tensors(video: Path, card, n: int) -> list:
    """The video's first ``n`` frames, preprocessed beforehand (what "the backend alone" gets)."""
    from edgeclass.preprocess import preprocess_bgr
    from edgeclass.runtime.sources import open_source

    tensors = []
    for img in open_source(str(video)):
        tensors.append(preprocess_bgr(img, card.preprocess)[None])
        if len(tensors) == n:
            break
    return tensors


def backend_fps(backend, tensors: list) -> tuple:
    """Inference alone, one predict per ready tensor: (frames per second, CPU ms per frame)."""
    c0, t0 = time.process_time(), time.perf_counter()
    for x in tensors:
        backend.predict(x)
    return len(tensors) / (time.perf_counter() - t0), (time.process_time() - c0) * 1e3 / len(tensors)


def pipeline_run(clf, video: Path, n: int) -> tuple:
    """The whole loop on the video file (decode, preprocess, inference, softmax, smoothing, labels):
    (summary, CPU ms per frame, all threads of the process)."""
    from edgeclass.runtime import Pipeline, PipelineConfig, open_source

    c0 = time.process_time()
    pipe = Pipeline(clf, [open_source(str(video))], PipelineConfig(max_frames=n))
    for _ in pipe:
        pass
    pipe.close()
    return pipe.summary(), (time.process_time() - c0) * 1e3 / n


def measure(clf, video: Path, n: int, rounds: int) -> dict:
    """``rounds`` back-to-back pairs (backend alone, then pipeline, same frames): on a shared machine
    the load changes over minutes, so each pair gives a ratio and the medians are reported."""
    tensors = ready_tensors(video, clf.card, n)
    for x in tensors[:5]:
        clf.backend.predict(x)  # warm-up
    pipeline_run(clf, video, 5)  # warm-up
    alone, e2e, ratios, summaries, cpu_alone, cpu_e2e = [], [], [], [], [], []
    for _ in range(rounds):
        a, ca = backend_fps(clf.backend, tensors)
        s, ce = pipeline_run(clf, video, n)
        alone.append(a)
        e2e.append(s.fps)
        ratios.append(s.fps / a)
        summaries.append(s)
        cpu_alone.append(ca)
        cpu_e2e.append(ce)
    mid = int(np.argsort(ratios)[len(ratios) // 2])
    return {"alone": float(np.median(alone)), "e2e": float(np.median(e2e)), "ratio": float(np.median(ratios)),
            "summary": summaries[mid], "ratios": ratios,
            "cpu_alone": float(np.median(cpu_alone)), "cpu_e2e": float(np.median(cpu_e2e))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--frames", type=int, default=100, help="frames per measurement")
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--work", default="/tmp/edgeclass-fps")
    ap.add_argument("--rounds", type=int, default=5, help="back-to-back (backend alone, pipeline) pairs; medians reported")
    ap.add_argument("--spin", action="store_true", help="let ONNX Runtime's worker threads spin between tasks (its default; the Classifier turns it off)")
    args = ap.parse_args(argv)
    width, height = (int(v) for v in args.size.lower().split("x"))
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)

    from edgeclass.runtime import Classifier

    models = build_models(work)
    video = write_video(work / f"video_{width}x{height}_{args.frames}.avi", args.frames, width, height)
    rows = []
    for name, path in models.items():
        clf = Classifier(path, **({"session_config": {}} if args.spin else {}))  # default: no spinning (LIVE_ORT_CONFIG)
        m = measure(clf, video, args.frames, args.rounds)
        st = m["summary"].stages
        rows.append((name, clf.describe(), m["alone"], m["e2e"], m["ratio"], st["capture"]["p50"], st["preprocess"]["p50"],
                     st["inference"]["p50"], st["postprocess"]["p50"], st["latency"]["p50"], st["latency"]["p95"],
                     m["cpu_alone"], m["cpu_e2e"]))
        print(f"{name}: per-round ratios {' '.join(f'{r:.3f}' for r in m['ratios'])}", file=sys.stderr)
        clf.close()
    cpu = platform.processor() or platform.machine()
    print(f"\nResNet-18 224 px, {width}x{height} MJPG video, {args.frames} frames x {args.rounds} rounds (medians), "
          f"ONNX Runtime threads {'spinning' if args.spin else 'not spinning'}, "
          f"{os.cpu_count()}-core {cpu} CPU, batch 1\n")
    print("| model | backend | backend alone FPS | end-to-end FPS | ratio | CPU ms/frame alone | CPU ms/frame end-to-end | CPU ratio "
          "| capture p50 ms | preprocess p50 ms | inference p50 ms | post p50 ms | latency p50 / p95 ms |")
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]:.1f} | {r[3]:.1f} | {r[4]:.3f} | {r[11]:.1f} | {r[12]:.1f} | {r[11] / r[12]:.3f} "
              f"| {r[5]:.2f} | {r[6]:.2f} | {r[7]:.2f} | {r[8]:.2f} | {r[9]:.1f} / {r[10]:.1f} |")
    return 0 if all(r[4] >= 0.95 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
