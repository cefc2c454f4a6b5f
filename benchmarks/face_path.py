"""Face detectors: recall, false positives and milliseconds per 640x480 frame (part 1 of the face-path
benchmark; the FPS of the whole face path against full-frame needs the pipeline wiring).

Test sets (``edgeclass.tools.face_samples``; photos from packages, labelled by eye, and frames made
from them): ``photos`` (astronaut + the insightface group photo of six, fitted to 640x480, and
mirrored), ``close-up`` (one face filling 60-95 % of the frame height), ``24px`` (12 faces ~24 px high
over a landscape), ``grid-24`` (24 faces in one frame, half mirrored), ``lfw-40px`` (80 LFW crops of
80 different people, grey, 40 px, no context). ``free FP``: detections on five face-free photos
(coffee, rocket, a cat, a temple, a flower). A detection counts when its IoU with a label is >= 0.4.

Each detector runs at full resolution (``max_side`` 640) and reduced (320); ``ms`` is the median
wall time of ``detect`` over all the frames (all sets), so it includes shrinking the frame; ``CPU
ms`` the median CPU time of the process (all threads), steadier than wall time on a shared machine.
Then MTCNN's stages on ONNX Runtime against OpenCV's dnn module.

    .venv/bin/python benchmarks/face_path.py [--repeat 3] [--models DIR] [--threads N]

Needs ``make setup`` (MTCNN's ONNX files) and ``make face-testdata`` (the group photo; without it
the group sets are left out). YuNet is measured when its file is in the model cache.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path
from typing import Dict, List


def detector_rows(args) -> List[tuple]:
    """(label, load_detector name, options) for every configuration measured."""
    from edgeclass.runtime.faces import available_detectors

    have = available_detectors(args.models)
    rows = []
    for name in ("mtcnn", "yunet", "haar"):
        if name not in have:
            print(f"({name}: model file not in {args.models}; skipped)")
            continue
        extra = {"threads": args.threads} if (name == "mtcnn" and args.threads) else {}
        for side in (640, 320):
            rows.append((f"{name} @{side}", name, dict(max_side=side, min_face=20, **extra)))
        if name == "mtcnn":
            rows.append(("mtcnn @640 cv2.dnn", name, dict(max_side=640, min_face=20, engine="opencv")))
            rows.append(("mtcnn @320 min 40", name, dict(max_side=320, min_face=40, **extra)))
    return rows


def measure(detector, sets: Dict[str, list], free: list, repeat: int) -> dict:
    from edgeclass.tools.face_samples import recall_of

    out = {}
    for set_name, frames in sets.items():
        found, total, fp = recall_of(lambda im: [f.box for f in detector.detect(im)], frames)
        out[set_name] = (found, total, fp)
    out["free FP"] = sum(len(detector.detect(f.image)) for f in free)
    wall, cpu = [], []
    frames = [f.image for fs in sets.values() for f in fs]
    for _ in range(repeat):
        for im in frames:
            t, c = time.perf_counter(), time.process_time()
            detector.detect(im)
            wall.append(time.perf_counter() - t)
            cpu.append(time.process_time() - c)
    out["ms"], out["cpu"] = 1000 * statistics.median(wall), 1000 * statistics.median(cpu)
    return out


def stage_times(models: Path, repeat: int) -> List[str]:
    """ms of each MTCNN stage, ONNX Runtime vs cv2.dnn, on typical shapes at 640x480."""
    import numpy as np

    from edgeclass.facemodels import MTCNN_FILES, MTCNN_OUTPUTS
    from edgeclass.runtime.faces.netrunner import NetRunner

    shapes = {"pnet": (1, 3, 288, 384), "rnet": (100, 3, 24, 24), "onet": (10, 3, 48, 48)}
    lines = ["| stage | input | ONNX Runtime ms | cv2.dnn ms |", "|---|---|---|---|"]
    for stage, shape in shapes.items():
        x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
        cells = []
        for engine in ("onnxruntime", "opencv"):
            run = NetRunner(models / MTCNN_FILES[stage], engine, outputs=MTCNN_OUTPUTS[stage])
            run(x)
            ts = []
            for _ in range(max(5, 5 * repeat)):
                t = time.perf_counter()
                run(x)
                ts.append(time.perf_counter() - t)
            cells.append(f"{1000 * statistics.median(ts):.2f}")
        lines.append(f"| {stage} | {'x'.join(map(str, shape))} | {cells[0]} | {cells[1]} |")
    return lines


def main() -> None:
    from edgeclass.errors import EdgeclassError
    from edgeclass.facemodels import models_dir
    from edgeclass.runtime.faces import load_detector
    from edgeclass.tools import face_samples as fs

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3, help="timing passes over all frames")
    ap.add_argument("--models", type=Path, default=models_dir())
    ap.add_argument("--threads", type=int, default=0, help="ONNX Runtime threads for MTCNN (0: its default)")
    args = ap.parse_args()
    try:
        group = fs.group_photo()
    except EdgeclassError as e:
        print(f"(group photo unavailable: {e}; its sets are left out)")
        group = None
    sets, free = fs.test_sets(group), fs.face_free()
    print(f"# face detectors on {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, OpenCV threads default")
    print(f"frames: {', '.join(f'{k} {len(v)}' for k, v in sets.items())}; face-free photos {len(free)}\n")
    head = list(sets) + ["free FP", "ms/frame", "CPU ms/frame"]
    print("| detector | " + " | ".join(head) + " |")
    print("|---" * (len(head) + 1) + "|")
    for label, name, opts in detector_rows(args):
        det = load_detector(name, folder=args.models, **opts)
        r = measure(det, sets, free, args.repeat)
        cells = [f"{f}/{t}" + (f" (+{fp})" if fp else "") for f, t, fp in (r[k] for k in sets)]
        print(f"| {label} | " + " | ".join(cells) + f" | {r['free FP']} | {r['ms']:.1f} | {r['cpu']:.1f} |", flush=True)
    print("\n(+N): detections matching no label in that set\n")
    if "mtcnn" in [n for _, n, _ in detector_rows(args)]:
        print("\n".join(stage_times(args.models, args.repeat)))


if __name__ == "__main__":
    main()
