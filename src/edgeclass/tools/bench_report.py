"""`edgeclass bench`, part three: the table as Markdown (printed, bench.md), CSV (bench.csv) and a
bar chart (bench.png)."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from ..fileio import write_text_atomic
from .bench import BenchResult
from .bench_build import OK

CSV_FIELDS = (
    "format", "precision", "file", "status", "reason", "size_mb", "top1", "delta_top1_pp",
    "latency_p50_ms", "latency_p95_ms", "throughput_img_s", "batch", "backend",
)


def _num(v: Optional[float], fmt: str) -> str:
    return "" if v is None else format(v, fmt)


def csv_rows(result: BenchResult) -> List[Dict[str, str]]:
    return [
        {
            "format": r.fmt.label,
            "precision": r.fmt.precision_label,
            "file": r.path.name,
            "status": r.status,
            "reason": r.reason,
            "size_mb": _num(r.size_mb, ".3f"),
            "top1": _num(r.top1, ".6f"),
            "delta_top1_pp": _num(r.delta_top1, "+.2f"),
            "latency_p50_ms": _num(r.p50_ms, ".3f"),
            "latency_p95_ms": _num(r.p95_ms, ".3f"),
            "throughput_img_s": _num(r.throughput, ".1f"),
            "batch": "" if r.batch is None else str(r.batch),
            "backend": r.backend,
        }
        for r in result.rows
    ]


def format_csv(result: BenchResult) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, lineterminator="\n")
    w.writeheader()
    w.writerows(csv_rows(result))
    return buf.getvalue()


def header_lines(result: BenchResult) -> List[str]:
    m, c = result.machine, result.config
    return [
        f"edgeclass bench: {result.run} on the {result.split} split of {result.dataset} ({result.num_images} images)",
        f"CPU: {m['cpu']}; GPU: {m['gpu']}; load average before the bench: {m['load']}",
        f"torch {m['torch']}, onnxruntime {m['onnxruntime']}, TensorRT {m['tensorrt']}, Python {m['python']}",
        f"latency: batch 1, model call only (preprocessing excluded), {c.warmup} warm-up runs, "
        f"then up to {c.iters} runs or {c.seconds:g} s; throughput: batch {c.batch}",
    ]


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def format_markdown(result: BenchResult) -> str:
    b = result.config.batch
    head = ["format", "precision", "status", "size MB", "top-1", "Δ vs PyTorch (pp)", "p50 ms", "p95 ms", f"img/s @ {b}", "backend"]
    lines = [f"{line}  " for line in header_lines(result)] + [""]  # two spaces: Markdown line breaks
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---"] * 3 + ["---:"] * 6 + ["---"]) + "|")
    for r in result.rows:
        status = r.status_text if len(r.status_text) <= 160 else r.status_text[:157] + "..."
        cells = [
            r.fmt.label,
            r.fmt.precision_label,
            _md_cell(status),
            _num(r.size_mb, ".2f"),
            "" if r.top1 is None else f"{100 * r.top1:.2f}%",
            _num(r.delta_top1, "+.2f"),
            _num(r.p50_ms, ".3f"),
            _num(r.p95_ms, ".3f"),
            _num(r.throughput, ".0f"),
            _md_cell(r.backend),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def plot_bench(result: BenchResult, path: Path) -> Path:
    """Bars per artifact: test top-1, latency p50 at batch 1, throughput at batch N."""
    import matplotlib

    matplotlib.use("Agg", force=True)  # files only: works headless
    import matplotlib.pyplot as plt

    rows = [r for r in result.rows if r.status == OK]
    labels = [f"{r.fmt.label}\n{r.fmt.precision_label}" for r in rows]
    panels = (
        ("test top-1 (%)", [100 * (r.top1 or 0) for r in rows], ".2f"),
        ("latency p50, batch 1 (ms)", [r.p50_ms or 0 for r in rows], ".3g"),
        (f"throughput, batch {result.config.batch} (img/s)", [r.throughput or 0 for r in rows], ".0f"),
    )
    fig, axes = plt.subplots(1, 3, figsize=(15, max(3.0, 0.55 * len(rows) + 1.5)), dpi=100)
    for ax, (title, values, fmt) in zip(axes, panels):
        y = np.arange(len(rows))
        ax.barh(y, values, color="tab:blue")
        ax.set_yticks(y)
        ax.set_yticklabels(labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_title(title)
        ax.grid(True, axis="x", alpha=0.3)
        ax.margins(x=0.15)  # room for the value labels
        for yi, v in zip(y, values):
            ax.text(v, yi, " " + format(v, fmt), va="center", fontsize=8)
        if title.startswith("test top-1") and values:
            ax.set_xlim(max(0.0, min(values) - 5.0), 100.5)
    failed = [r for r in result.rows if r.status != OK]
    note = f"  ({len(failed)} artifacts not measured; see bench.md)" if failed else ""
    fig.suptitle(f"{result.run.name}: {result.machine['cpu'][:60]}; GPU {result.machine['gpu'][:40]}{note}", fontsize=10)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


def save_bench(result: BenchResult, out_dir: str | os.PathLike) -> Dict[str, Path]:
    """``bench.md``, ``bench.csv`` and ``bench.png`` in ``out_dir`` (the run folder by default)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"md": out / "bench.md", "csv": out / "bench.csv", "png": out / "bench.png"}
    write_text_atomic(paths["md"], format_markdown(result))
    write_text_atomic(paths["csv"], format_csv(result))
    plot_bench(result, paths["png"])
    return paths
