"""`edgeclass bench`: accuracy, size and speed of every artifact of a run, in one table.

One row per artifact (PyTorch checkpoint, TorchScript, ONNX fp32/fp16/int8/int8-cpu, TensorRT
engines). Missing artifacts are made first through the exporter/calibrator/engine builder (unless
``build=False``). A row that cannot be built or evaluated is kept with its status and reason, and the
other rows still fill: one broken file never hides the rest of the table.

Accuracy goes through ``edgeclass.tools.evaluate`` (the runtime backends fed by
``edgeclass.preprocess``), with a fixed batch and a fixed sample order, so a rerun gives the same
accuracy columns exactly. Speed is measured on ``Backend.predict`` (the model call, preprocessing
excluded) on real preprocessed test images: warm-up runs first, then timed runs bounded both by a
count and by seconds, so a slow artifact cannot stall the bench.
"""

from __future__ import annotations

import csv
import io
import os
import platform
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..data.manifest import Dataset
from ..errors import EdgeclassError
from ..metrics import classification_report
from ..preprocess import preprocess_files
from ..spec import ModelCard, class_index
from .evaluate import labels_for, open_backend, predict_logits, resolve_dataset

# the accuracy columns always use this batch, whatever --batch says, so they never depend on timing options
EVAL_BATCH = 32


@dataclass(frozen=True)
class ArtifactSpec:
    """One row of the table: which file, and which builder makes it when it is missing."""

    key: str  # --formats name
    format: str
    precision: str
    filename: str  # under runs/<name>/weights/
    builder: str  # "train", "export", "calibrate", "engine-fp16", "engine-int8"


ARTIFACTS: Tuple[ArtifactSpec, ...] = (
    ArtifactSpec("pytorch", "PyTorch", "fp32", "best.pt", "train"),
    ArtifactSpec("torchscript", "TorchScript", "fp32", "model.ts", "export"),
    ArtifactSpec("onnx", "ONNX Runtime", "fp32", "model.onnx", "export"),
    ArtifactSpec("onnx-fp16", "ONNX Runtime", "fp16", "model.fp16.onnx", "export"),
    ArtifactSpec("onnx-int8", "ONNX Runtime", "int8 (Q/DQ)", "model.int8.onnx", "calibrate"),
    ArtifactSpec("onnx-int8-cpu", "ONNX Runtime", "int8-cpu (U8S8)", "model.int8-cpu.onnx", "calibrate"),
    ArtifactSpec("engine-fp16", "TensorRT", "fp16", "model.fp16.engine", "engine-fp16"),
    ArtifactSpec("engine-int8", "TensorRT", "int8", "model.int8.engine", "engine-int8"),
)
FORMAT_KEYS = tuple(a.key for a in ARTIFACTS)

OK, BUILD_FAILED, EVAL_FAILED, MISSING, SKIPPED = "ok", "build failed", "eval failed", "missing", "skipped"


@dataclass
class BenchConfig:
    formats: str | Sequence[str] = "all"
    split: str = "test"
    batch: int = 32  # throughput batch
    build: bool = True  # make missing artifacts
    warmup: int = 10
    iters: int = 200  # at most this many timed calls per measurement ...
    seconds: float = 3.0  # ... and at most this long
    backend_options: Dict[str, Any] = field(default_factory=dict)

    def selected(self) -> List[ArtifactSpec]:
        keys = self.formats
        if isinstance(keys, str):
            keys = [k.strip() for k in keys.split(",") if k.strip()]
        if not keys or "all" in keys:
            return list(ARTIFACTS)
        unknown = [k for k in keys if k not in FORMAT_KEYS]
        if unknown:
            raise EdgeclassError(f"unknown format(s) {', '.join(unknown)} (choose from all, {', '.join(FORMAT_KEYS)})")
        return [a for a in ARTIFACTS if a.key in keys]

    def validate(self) -> "BenchConfig":
        if self.batch < 1 or self.iters < 1 or self.warmup < 0 or self.seconds <= 0:
            raise EdgeclassError("--batch and --iters must be >= 1, --warmup >= 0 and --seconds > 0")
        self.selected()
        return self


@dataclass
class Row:
    spec: ArtifactSpec
    path: Path
    status: str = OK
    reason: str = ""
    size_mb: Optional[float] = None
    top1: Optional[float] = None
    delta_top1: Optional[float] = None  # percentage points vs the PyTorch row
    p50_ms: Optional[float] = None
    p95_ms: Optional[float] = None
    throughput: Optional[float] = None  # images/s at ``batch``
    batch: Optional[int] = None
    backend: str = ""

    @property
    def status_text(self) -> str:
        return f"{self.status}: {self.reason}" if self.reason else self.status


@dataclass
class BenchResult:
    run: Path
    dataset: str
    split: str
    num_images: int
    rows: List[Row]
    machine: Dict[str, str]
    config: BenchConfig


# --- the machine ----------------------------------------------------------------------------------


def cpu_name() -> str:
    """The CPU model (``/proc/cpuinfo``), the board on a Jetson (device tree), else the platform."""
    try:
        with open("/proc/device-tree/model", "r", encoding="utf-8", errors="replace") as f:
            board = f.read().strip("\x00 \n")
    except OSError:
        board = ""
    name = ""
    try:
        with open("/proc/cpuinfo", "r", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.lower().startswith(("model name", "hardware", "cpu model")):
                    name = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    name = name or platform.processor() or platform.machine() or "unknown CPU"
    cores = os.cpu_count() or 0
    text = f"{name} ({cores} cores, {platform.machine()})"
    return f"{board}, {text}" if board else text


def library_version(module: str) -> str:
    """Version of an importable library, or "not installed" (importing it only when present)."""
    import importlib
    import importlib.util

    if importlib.util.find_spec(module) is None:
        return "not installed"
    try:
        return str(getattr(importlib.import_module(module), "__version__", "unknown version"))
    except Exception as e:  # a broken install (e.g. missing CUDA libraries) is worth naming
        return f"broken ({type(e).__name__})"


def gpu_name() -> str:
    """The CUDA GPU as PyTorch sees it, or "none"."""
    try:
        import torch

        if torch.cuda.is_available():
            return f"{torch.cuda.get_device_name(0)} (CUDA {torch.version.cuda})"
    except Exception:
        pass
    return "none"


def load_average() -> str:
    """The 1-minute load average: other work on the machine is the main source of timing noise."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except (AttributeError, OSError):
        return "n/a"


def machine_info() -> Dict[str, str]:
    return {
        "load": load_average(),
        "cpu": cpu_name(),
        "gpu": gpu_name(),
        "python": platform.python_version(),
        "torch": library_version("torch"),
        "onnxruntime": library_version("onnxruntime"),
        "tensorrt": library_version("tensorrt"),
    }


# --- building missing artifacts -------------------------------------------------------------------


def _first_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    msg = text[0] if text else ""
    if not isinstance(e, EdgeclassError):
        msg = f"{type(e).__name__}: {msg}" if msg else type(e).__name__
    return msg[:300]


def _build_export(run: Path) -> None:
    """model.ts, model.onnx, model.fp16.onnx through the exporter (its parity report lands in weights/)."""
    from ..export import ExportConfig, export

    export(ExportConfig(source=run))


def _build_calibration(run: Path) -> None:
    """model.int8.onnx (Q/DQ) and model.int8-cpu.onnx through the calibrator (needs model.onnx)."""
    from ..calibration.pipeline import CalibrationConfig, run_calibration

    if not (run / "weights" / "model.onnx").is_file():
        raise EdgeclassError("model.onnx is missing, so there is nothing to calibrate (the export failed?)")
    run_calibration(CalibrationConfig(source=run))


def _build_engine(run: Path, precision: str) -> None:
    """A TensorRT engine with the engine builder's defaults (the same as `edgeclass engine RUN`)."""
    from ..export.tensorrt import build_engine
    from ..trt import EngineRequest

    build_engine(run, EngineRequest(precision=precision), log=lambda m: None)


BUILDERS: Dict[str, Callable[[Path], None]] = {
    "export": _build_export,
    "calibrate": _build_calibration,
    "engine-fp16": lambda run: _build_engine(run, "fp16"),
    "engine-int8": lambda run: _build_engine(run, "int8"),
}


def skip_reason(builder: str) -> str:
    """Why a builder cannot run on this machine at all ("" when it can): engines need TensorRT."""
    if builder.startswith("engine-"):
        import importlib.util

        if importlib.util.find_spec("tensorrt") is None:
            return "TensorRT not installed (build engines on the GPU machine: edgeclass engine RUN)"
    return ""


def build_group(run: Path, builder: str, log: Callable[[str], None]) -> None:
    """Make the artifacts of one builder for ``run`` (raises on failure; the caller records why)."""
    log(f"bench: making the missing {builder} artifacts of {run}")
    BUILDERS[builder](run)


def build_missing(run: Path, rows: Sequence[Row], log: Callable[[str], None]) -> Dict[str, str]:
    """Run each builder that owes a missing file once, in table order (export before calibrate
    before engines, which need their ONNX). Returns builder -> error message for those that failed."""
    errors: Dict[str, str] = {}
    done = set()
    for row in rows:
        builder = row.spec.builder
        if row.path.is_file() or builder in done or builder not in BUILDERS or skip_reason(builder):
            continue
        done.add(builder)
        try:
            build_group(run, builder, log)
        except Exception as e:  # a failed build must not stop the other rows
            errors[builder] = _first_line(e)
    return errors


def ensure_artifacts(run: Path, specs: Sequence[ArtifactSpec], build: bool, log: Callable[[str], None]) -> List[Row]:
    """A row per spec; files still missing afterwards get status missing / skipped / build failed."""
    rows = [Row(spec=s, path=run / "weights" / s.filename) for s in specs]
    errors = build_missing(run, rows, log) if build else {}
    for row in rows:
        if row.path.is_file():
            continue
        builder = row.spec.builder
        if builder not in BUILDERS:  # the checkpoint: only training makes it
            row.status, row.reason = MISSING, f"{row.path.name} not found; train the run first (edgeclass train)"
        elif skip_reason(builder):
            row.status, row.reason = SKIPPED, skip_reason(builder)
        elif not build:
            row.status, row.reason = MISSING, f"{row.path.name} not found (run without --no-build to make it)"
        else:
            row.status, row.reason = BUILD_FAILED, errors.get(builder) or f"{builder} did not write {row.path.name}"
    return rows


# --- measuring one row ----------------------------------------------------------------------------


def time_calls(fn: Callable[[], Any], warmup: int, iters: int, seconds: float) -> np.ndarray:
    """Seconds per call of ``fn``: ``warmup`` untimed calls, then up to ``iters`` timed calls or
    ``seconds`` of timing, whichever comes first (at least 3 calls, so percentiles exist)."""
    deadline = time.perf_counter() + seconds
    for _ in range(warmup):
        fn()
        if time.perf_counter() > deadline:
            break
    times: List[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < max(3, iters) and (len(times) < 3 or time.perf_counter() < deadline):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return np.asarray(times)


def timing_batch(images: np.ndarray, n: int) -> np.ndarray:
    """``n`` real images (repeated when the split has fewer)."""
    reps = -(-n // len(images))
    return np.ascontiguousarray(np.concatenate([images] * reps)[:n])


def measure_row(row: Row, ds: Dataset, split: str, cfg: BenchConfig) -> None:
    """Fill accuracy and speed of one row in place (raises on failure)."""
    backend = open_backend(row.path, **cfg.backend_options)
    try:
        card = backend.card
        row.backend = backend.describe()
        samples = ds.split(split)
        labels = labels_for(card, ds, samples)
        logits, kept, _ = predict_logits(backend, card, [ds.abspath(s) for s in samples], EVAL_BATCH)
        if not kept:
            raise EdgeclassError(f"no readable image in split '{split}'")
        row.top1 = classification_report(logits, labels[kept], card.classes).top1
        files = [ds.abspath(samples[i]) for i in kept[: max(1, cfg.batch)]]
        images, _, _ = preprocess_files(files, card.preprocess)
        one = images[:1]
        lat = time_calls(lambda: backend.predict(one), cfg.warmup, cfg.iters, cfg.seconds)
        row.p50_ms = float(np.percentile(lat, 50) * 1e3)
        row.p95_ms = float(np.percentile(lat, 95) * 1e3)
        big = timing_batch(images, cfg.batch)
        per_batch = time_calls(lambda: backend.predict(big), max(1, cfg.warmup // 5), cfg.iters, cfg.seconds)
        row.batch = cfg.batch
        row.throughput = float(cfg.batch / np.median(per_batch))
    finally:
        backend.close()


# --- the bench ------------------------------------------------------------------------------------


def check_classes(run: Path, ds: Dataset) -> None:
    """A dataset with classes the run's model does not know fails every row the same way: say it
    once, up front (the run's model_card.json, when there is one, is the card of every artifact)."""
    path = run / "model_card.json"
    if path.is_file():
        class_index(ModelCard.load(path), ds.classes)


def bench(
    run: str | os.PathLike,
    data: Optional[str | os.PathLike] = None,
    manifest: Optional[str | os.PathLike] = None,
    config: Optional[BenchConfig] = None,
    log: Callable[[str], None] = lambda m: None,
) -> BenchResult:
    """Every selected artifact of ``run``: built if missing, evaluated, timed (see module docstring)."""
    cfg = (config or BenchConfig()).validate()
    machine = machine_info()  # before any work, so the load average is the machine's, not ours
    run = Path(run)
    if not run.is_dir():
        raise EdgeclassError(f"run folder {run} does not exist (give runs/<name>)")
    if not (run / "weights").is_dir():
        raise EdgeclassError(f"{run} has no weights/ folder; is it a run folder (runs/<name>)? train it first")
    if data is None and not (run / "config.json").is_file():
        raise EdgeclassError(f"{run} has no config.json naming its dataset; pass --data ROOT")
    anchor = run / "weights" / "best.pt"  # resolve_dataset looks at the run of this path
    ds = resolve_dataset(anchor, data, manifest)
    if not ds.split(cfg.split):
        raise EdgeclassError(f"split '{cfg.split}' of {ds.root} is empty")
    check_classes(run, ds)
    rows = ensure_artifacts(run, cfg.selected(), cfg.build, log)
    for row in rows:
        if row.status != OK:
            continue
        row.size_mb = row.path.stat().st_size / 1e6
        log(f"bench: {row.spec.key} ({row.path.name})")
        try:
            measure_row(row, ds, cfg.split, cfg)
        except Exception as e:  # the row says why; the others still fill
            row.status, row.reason = EVAL_FAILED, _first_line(e).replace(str(row.path), row.path.name)
            row.top1 = row.p50_ms = row.p95_ms = row.throughput = row.batch = None
    reference = next((r.top1 for r in rows if r.spec.key == "pytorch" and r.top1 is not None), None)
    for row in rows:
        if reference is not None and row.top1 is not None:
            row.delta_top1 = 100.0 * (row.top1 - reference)
    return BenchResult(
        run=run,
        dataset=str(ds.root),
        split=cfg.split,
        num_images=len(ds.split(cfg.split)),
        rows=rows,
        machine=machine,
        config=cfg,
    )


# --- reports --------------------------------------------------------------------------------------

CSV_FIELDS = (
    "format", "precision", "file", "status", "reason", "size_mb", "top1", "delta_top1_pp",
    "latency_p50_ms", "latency_p95_ms", "throughput_img_s", "batch", "backend",
)


def _num(v: Optional[float], fmt: str) -> str:
    return "" if v is None else format(v, fmt)


def csv_rows(result: BenchResult) -> List[Dict[str, str]]:
    return [
        {
            "format": r.spec.format,
            "precision": r.spec.precision,
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
            r.spec.format,
            r.spec.precision,
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
    labels = [f"{r.spec.format}\n{r.spec.precision}" for r in rows]
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
    paths["md"].write_text(format_markdown(result), encoding="utf-8")
    paths["csv"].write_text(format_csv(result), encoding="utf-8")
    plot_bench(result, paths["png"])
    return paths
