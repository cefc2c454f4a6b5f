"""`edgeclass jetson-check RUN` (`make jetson-check`): the on-hardware check.

Builds (or reuses, when fresh) the fp16 and int8 TensorRT engines of a run, compares each with ONNX
Runtime on the run's test split (top-1 agreement, max |delta logit|, accuracy), measures latency and
throughput, and prints one Markdown report a user can paste into an issue. Any step that cannot run
(no TensorRT, no int8 ONNX, no ONNX Runtime) is reported as such, never hidden.

The comparison and report functions are plain numpy and are tested on every machine; the engine
part has not yet run on real TensorRT hardware.
"""

from __future__ import annotations

import platform
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from .. import __version__
from ..engine import cuda
from ..engine.plan import NO_TENSORRT_MESSAGE, PRECISIONS, EngineRequest, engine_path, import_tensorrt
from ..engine.sidecar import engine_verdict, read_l4t_release
from ..engine.source import read_onnx_info
from ..errors import EdgeclassError
from ..metrics import logit_agreement, topk_accuracy
from ..runs import Run
from ..artifacts import formats
from ..data.image_sets import DataSource, split_images
from .bench import time_calls
from .machine import library_version

DEFAULT_PRECISIONS = ("fp16", "int8")


# --------------------------------------------------------------------------------------------
# measurements (pure numpy)
# --------------------------------------------------------------------------------------------


def agreement(reference: np.ndarray, candidate: np.ndarray) -> Dict[str, float]:
    """Top-1 agreement and max / mean |delta logit| of ``candidate`` against ``reference``."""
    if reference.shape != candidate.shape:
        raise EdgeclassError(f"logit shapes differ: {reference.shape} vs {candidate.shape}")
    if len(reference) == 0:
        raise EdgeclassError("no images to compare")
    return logit_agreement(reference, candidate)


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    return topk_accuracy(logits, labels, 1) if len(labels) else float("nan")


def latency_stats(seconds: Sequence[float], batch: int) -> Dict[str, float]:
    """Per-call latency percentiles (ms) and throughput (images/s) from per-call wall times."""
    t = np.asarray(seconds, dtype=np.float64)
    if t.size == 0:
        raise EdgeclassError("no timings")
    return {
        "batch": batch,
        "calls": int(t.size),
        "mean_ms": float(t.mean() * 1e3),
        "p50_ms": float(np.percentile(t, 50) * 1e3),
        "p90_ms": float(np.percentile(t, 90) * 1e3),
        "p99_ms": float(np.percentile(t, 99) * 1e3),
        "images_per_s": float(batch * t.size / t.sum()),
    }


def benchmark(predict: Callable[[np.ndarray], np.ndarray], images: np.ndarray, batch: int, iters: int, warmup: int = 10) -> Dict[str, float]:
    """Time ``predict`` on batches of ``batch`` images (host-to-host: copies included, as an app sees it)."""
    x = np.ascontiguousarray(np.resize(images, (batch,) + images.shape[1:]), dtype=np.float32)
    return latency_stats(time_calls(lambda: predict(x), warmup, iters, seconds=float("inf")), batch)


# --------------------------------------------------------------------------------------------
# report
# --------------------------------------------------------------------------------------------


@dataclass
class EngineRow:
    precision: str
    status: str  # "ok", or why it did not run
    engine: str = ""
    built: str = ""  # "built in 42 s" / "reused"
    reference: str = ""  # the ONNX it was compared with
    accuracy: Optional[float] = None
    reference_accuracy: Optional[float] = None
    compare: Dict[str, float] = field(default_factory=dict)
    bench: List[Dict[str, float]] = field(default_factory=list)
    describe: str = ""


def _fmt(v: Optional[float], spec: str) -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, spec)


def format_report(env: Dict[str, str], rows: List[EngineRow], images: int, run: str, notes: Sequence[str] = ()) -> str:
    lines = [f"## edgeclass jetson-check: {run}", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in env.items()]
    lines += [
        "",
        f"Accuracy and agreement on the test split ({images} images); reference = ONNX Runtime (CPU) on the engine's source ONNX.",
        "",
        "| engine | status | build | top-1 acc | ref acc | top-1 agree | max abs dlogit | mean abs dlogit |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        c = r.compare
        lines.append(
            f"| {r.precision} | {r.status} | {r.built or '-'} | {_fmt(r.accuracy, '.2%')} | {_fmt(r.reference_accuracy, '.2%')} | "
            f"{_fmt(c.get('top1_agreement'), '.2%')} | {_fmt(c.get('max_abs_diff'), '.3g')} | {_fmt(c.get('mean_abs_diff'), '.3g')} |"
        )
    bench = [(r, b) for r in rows for b in r.bench]
    if bench:
        lines += ["", "Latency per call (host to host, copies included) and throughput:", "",
                  "| engine | batch | mean ms | p50 ms | p90 ms | p99 ms | images/s |", "|---|---|---|---|---|---|---|"]
        for r, b in bench:
            lines.append(
                f"| {r.precision} | {int(b['batch'])} | {b['mean_ms']:.2f} | {b['p50_ms']:.2f} | {b['p90_ms']:.2f} | {b['p99_ms']:.2f} | {b['images_per_s']:.0f} |"
            )
    described = [r.describe for r in rows if r.describe] + list(notes)
    if described:
        lines += [""] + [f"- {d}" for d in described]
    return "\n".join(lines) + "\n"


def environment() -> Dict[str, str]:
    env = {
        "edgeclass": __version__,
        "python": platform.python_version(),
        "machine": f"{platform.system()} {platform.machine()}",
        "L4T": read_l4t_release() or "not a Jetson (no /etc/nv_tegra_release)",
    }
    for mod in ("tensorrt", "onnxruntime", "numpy", "cv2", "torch"):
        env[mod] = library_version(mod)
    try:
        device = cuda.open_cuda(0)
        g = device.gpu()
        env["GPU"] = f"{g.name} ({g.sm}), memory via {device.kind}"
        device.close()
    except EdgeclassError as e:
        env["GPU"] = str(e)
    except Exception as e:
        env["GPU"] = f"unavailable ({type(e).__name__}: {e})"
    return env


# --------------------------------------------------------------------------------------------
# the check
# --------------------------------------------------------------------------------------------


def held_out_images(run: Path, card: Any, limit: Optional[int]) -> Tuple[np.ndarray, np.ndarray]:
    source = DataSource.of_run(Run.find(run))
    if source is None:
        raise EdgeclassError(f"{run}/config.json does not name the dataset ('data'); jetson-check needs its test split")
    return split_images(source.load(), card, "test", num=limit, seed=0)


def ensure_engine(run: Path, precision: str, max_batch: int, device: int, rebuild: bool) -> Tuple[Path, str]:
    """The engine of ``precision``: reused when present and fresh, else built. Returns (path, how)."""
    from ..engine.build import build_engine

    path = engine_path(Run.find(run).weights, precision)
    if path.is_file() and not rebuild:
        _trt, version = import_tensorrt()
        if not engine_verdict(path, version, cuda.gpu_of(device))[1].stale:
            return path, "reused"
    request = EngineRequest(precision=precision, min_batch=1, opt_batch=1, max_batch=max_batch, device=device)
    result = build_engine(run, request, log=lambda m: print(m, file=sys.stderr))
    return result.engine, f"built in {result.seconds:.0f} s"


def check_precision(run: Path, precision: str, images: np.ndarray, labels: np.ndarray, batches: Sequence[int],
                    iters: int, device: int, rebuild: bool) -> EngineRow:
    from ..inference import onnx_logits
    from ..runtime.backends.tensorrt import TensorRTBackend

    row = EngineRow(precision, "ok")
    try:
        path, row.built = ensure_engine(run, precision, max(batches), device, rebuild)
    except EdgeclassError as e:
        row.status = f"not built: {e}"
        return row
    row.engine = str(path)
    backend = TensorRTBackend(path, device=device, rebuild_stale=True)
    try:
        row.describe = backend.describe()
        got = backend.predict(images)
        row.accuracy = accuracy(got, labels)
        src = Run.find(run).weights / backend.sidecar["source_onnx"]["file"]
        row.reference = src.name
        try:
            ref = onnx_logits(src, images)
            row.reference_accuracy = accuracy(ref, labels)
            row.compare = agreement(ref, got)
        except ImportError:
            row.status = "ok (no onnxruntime: comparison skipped; pip install onnxruntime)"
        for b in batches:
            if backend.max_batch is None or b <= backend.max_batch:
                row.bench.append(benchmark(backend.predict, images, b, iters))
    finally:
        backend.close()
    return row


def jetson_check(run: str | Path, precisions: Sequence[str] = DEFAULT_PRECISIONS, batches: Sequence[int] = (1, 8),
                 iters: int = 200, limit: Optional[int] = None, device: int = 0, rebuild: bool = False) -> str:
    """The report (Markdown) of the on-hardware check of ``run`` (see the module docstring)."""
    run = Path(run)
    bad = [p for p in precisions if p not in PRECISIONS]
    if bad:
        raise EdgeclassError(f"unknown precision(s) {', '.join(bad)}; choose from {', '.join(PRECISIONS)}")
    env = environment()
    onnx = Run.find(run).artifact(formats.get("onnx"))
    if not onnx.is_file():
        raise EdgeclassError(f"{onnx} is missing; run `edgeclass export {run}` (and `edgeclass calibrate {run}` for int8) first")
    card = read_onnx_info(onnx).card
    images, labels = held_out_images(run, card, limit)
    rows = []
    notes = []
    if env["tensorrt"] == "not installed":
        rows = [EngineRow(p, "skipped: no TensorRT") for p in precisions]
        notes.append(NO_TENSORRT_MESSAGE)
    else:
        for p in precisions:
            try:
                rows.append(check_precision(run, p, images, labels, batches, iters, device, rebuild))
            except EdgeclassError as e:
                rows.append(EngineRow(p, f"failed: {e}"))
    return format_report(env, rows, len(images), str(run), notes)
