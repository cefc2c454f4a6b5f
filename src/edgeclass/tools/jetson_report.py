"""jetson-check's measurements and its Markdown report (plain numpy, tested on every machine).

The report, top to bottom: the device (board, JetPack / L4T, GPU, DLA cores, TensorRT, CUDA,
libraries); each engine against ONNX Runtime on the test split (accuracy, top-1 agreement, cosine of
every output); latency and throughput per batch; a summary comparing fp16, int8 and DLA; each
engine's layers (precision and device, from TensorRT's engine inspector); what was skipped and why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..engine.layers import LayerInfo
from ..errors import EdgeclassError
from ..metrics import logit_agreement, topk_accuracy
from .bench import time_calls


# --------------------------------------------------------------------------------------------
# measurements
# --------------------------------------------------------------------------------------------


def agreement(reference: np.ndarray, candidate: np.ndarray) -> Dict[str, float]:
    """Top-1 agreement and max / mean |delta logit| of ``candidate`` against ``reference``."""
    if reference.shape != candidate.shape:
        raise EdgeclassError(f"logit shapes differ: {reference.shape} vs {candidate.shape}")
    if len(reference) == 0:
        raise EdgeclassError("no images to compare")
    return logit_agreement(reference, candidate)


def cosine(reference: np.ndarray, candidate: np.ndarray) -> Dict[str, float]:
    """Per-image cosine similarity of two outputs (each image's values as one vector): mean and min."""
    if reference.shape != candidate.shape:
        raise EdgeclassError(f"output shapes differ: {reference.shape} vs {candidate.shape}")
    a = reference.reshape(len(reference), -1).astype(np.float64)
    b = candidate.reshape(len(candidate), -1).astype(np.float64)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    both_zero = norms == 0
    cos = np.where(both_zero, 1.0, np.sum(a * b, axis=1) / np.where(both_zero, 1.0, norms))
    return {"cosine_mean": float(cos.mean()), "cosine_min": float(cos.min())}


def compare_outputs(reference: Dict[str, np.ndarray], candidate: Dict[str, np.ndarray], logits: str) -> Dict[str, Dict[str, float]]:
    """Every output both sides have: cosine (mean, min) and max |delta|; the logits also top-1 agreement."""
    out = {}
    for name in reference:
        if name not in candidate:
            continue
        stats = cosine(reference[name], candidate[name])
        stats["max_abs_diff"] = float(np.abs(reference[name].astype(np.float64) - candidate[name]).max())
        if name == logits:
            stats.update(agreement(reference[name], candidate[name]))
        out[name] = stats
    return out


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
# the report
# --------------------------------------------------------------------------------------------


@dataclass
class EngineRow:
    label: str  # "fp16", "int8", "fp16 DLA0"
    status: str  # "ok", or why it did not run
    engine: str = ""
    built: str = ""  # "built in 42 s" / "reused"
    source: str = ""  # the ONNX it was built from and compared with
    accuracy: Optional[float] = None
    reference_accuracy: Optional[float] = None
    outputs: Dict[str, Dict[str, float]] = field(default_factory=dict)  # output -> compare_outputs stats
    logits: str = "logits"
    bench: List[Dict[str, float]] = field(default_factory=list)
    describe: str = ""
    layers: Optional[List[LayerInfo]] = None
    max_batch: Optional[int] = None


def _fmt(v: Optional[float], spec: str) -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, spec)


def _table(head: Sequence[str], rows: Sequence[Sequence[str]]) -> List[str]:
    return ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows]


def _cosines(row: EngineRow) -> str:
    return "; ".join(f"{n} {_fmt(s.get('cosine_mean'), '.5f')} / {_fmt(s.get('cosine_min'), '.5f')}" for n, s in row.outputs.items()) or "-"


def _devices(layers: Optional[List[LayerInfo]]) -> str:
    if not layers:
        return "-"
    counts: Dict[str, int] = {}
    for layer in layers:
        counts[layer.device] = counts.get(layer.device, 0) + 1
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items(), key=lambda kv: -kv[1]))


def engine_section(rows: List[EngineRow], images: int) -> List[str]:
    lines = [f"### Engines vs ONNX Runtime ({images} test images; reference: ONNX Runtime (CPU) on the engine's source ONNX)", ""]
    lines += _table(
        ["engine", "status", "build", "source ONNX", "top-1 acc", "ORT acc", "top-1 agree", "cosine mean / min per output", "max abs dlogit"],
        [[r.label, r.status, r.built or "-", r.source or "-", _fmt(r.accuracy, ".2%"), _fmt(r.reference_accuracy, ".2%"),
          _fmt(r.outputs.get(r.logits, {}).get("top1_agreement"), ".2%"), _cosines(r),
          _fmt(r.outputs.get(r.logits, {}).get("max_abs_diff"), ".3g")] for r in rows],
    )
    return lines


def latency_section(rows: List[EngineRow]) -> List[str]:
    bench = [(r, b) for r in rows for b in r.bench]
    if not bench:
        return []
    lines = ["", "### Latency and throughput (per call, host to host, copies included)", ""]
    lines += _table(["engine", "batch", "mean ms", "p50 ms", "p90 ms", "p99 ms", "images/s"],
                    [[r.label, str(int(b["batch"])) + (f" ({int(b['batch'])} x {r.max_batch})" if r.max_batch and b["batch"] > r.max_batch else ""),
                      f"{b['mean_ms']:.2f}", f"{b['p50_ms']:.2f}", f"{b['p90_ms']:.2f}", f"{b['p99_ms']:.2f}", f"{b['images_per_s']:.0f}"]
                     for r, b in bench])
    return lines


def summary_rows(rows: List[EngineRow]) -> List[List[str]]:
    """fp16 vs int8 vs DLA: agreement, worst cosine, batch-1 latency, best throughput and its ratio to fp16 (GPU)."""
    ok = [r for r in rows if r.bench]
    best = {r.label: max(b["images_per_s"] for b in r.bench) for r in ok}
    base = best.get("fp16")
    out = []
    for r in ok:
        b1 = next((b for b in r.bench if b["batch"] == 1), None)
        worst = min((s["cosine_min"] for s in r.outputs.values()), default=None)
        ratio = f"{best[r.label] / base:.2f}x" if base else "-"
        out.append([r.label, _fmt(r.outputs.get(r.logits, {}).get("top1_agreement"), ".2%"), _fmt(worst, ".5f"),
                    _fmt(b1["p50_ms"] if b1 else None, ".2f"), f"{best[r.label]:.0f}", ratio, _devices(r.layers)])
    return out


def layer_sections(rows: List[EngineRow]) -> List[str]:
    lines = []
    for r in rows:
        if not r.layers:
            continue
        lines += ["", f"<details><summary>Layers of {r.label} ({len(r.layers)}, from TensorRT's engine inspector)</summary>", ""]
        lines += _table(["#", "layer", "type", "precision", "device"],
                        [[str(i), layer.name.replace("|", "/"), layer.type, layer.precision, layer.device] for i, layer in enumerate(r.layers)])
        lines += ["", "</details>"]
    return lines


def format_report(env: Dict[str, str], rows: List[EngineRow], images: int, run: str,
                  skipped: Sequence[Tuple[str, str]] = (), notes: Sequence[str] = ()) -> str:
    """The Markdown report: device, engines vs ONNX Runtime, latency, summary, layers, skipped parts."""
    lines = [f"## edgeclass jetson-check: {run}", "", "### Device", ""]
    lines += _table(["", ""], [[k, v] for k, v in env.items()])
    lines += [""] + engine_section(rows, images) + latency_section(rows)
    summary = summary_rows(rows)
    if summary:
        lines += ["", "### Summary: fp16 vs int8 vs DLA", ""]
        lines += _table(["engine", "top-1 agree", "worst cosine", "p50 ms at batch 1", "best images/s", "vs fp16", "layers by device"], summary)
    lines += layer_sections(rows)
    described = [r.describe for r in rows if r.describe] + list(notes)
    if described:
        lines += [""] + [f"- {d}" for d in described]
    if skipped:
        lines += ["", "### Skipped", ""] + [f"- {part}: {why}" for part, why in skipped]
    return "\n".join(lines) + "\n"
