"""`edgeclass bench`: accuracy, size and speed of every artifact of a run, in one table.

One row per benched artifact of the format table (PyTorch checkpoint, TorchScript, ONNX
fp32/fp16/int8/int8-cpu, TensorRT engines). Missing artifacts are made first (``bench_build``, unless
``build=False``); the table is written by ``bench_report``. A row that cannot be built or evaluated is
kept with its status and reason, and the other rows still fill: one broken file never hides the rest.

Accuracy goes through ``edgeclass.tools.evaluate`` (the runtime backends fed by
``edgeclass.preprocess``), with a fixed batch and a fixed sample order, so a rerun gives the same
accuracy columns exactly. Speed is measured on ``Backend.predict`` (the model call, preprocessing
excluded) on real preprocessed test images: warm-up runs first, then timed runs bounded both by a
count and by seconds, so a slow artifact cannot stall the bench.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import numpy as np

from ..artifacts import formats
from ..artifacts.formats import Format
from ..data.manifest import Dataset
from ..errors import EdgeclassError
from ..metrics import classification_report
from ..preprocess import preprocess_files
from ..runs import Run
from ..spec import ModelCard, class_index
from .bench_build import EVAL_FAILED, OK, ensure_artifacts, first_line
from .evaluate import labels_for, open_backend, predict_logits, resolve_dataset
from .machine import machine_info

# the accuracy columns always use this batch, whatever --batch says, so they never depend on timing options
EVAL_BATCH = 32
FORMAT_KEYS = formats.keys(formats.BENCHED)


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

    def selected(self) -> List[Format]:
        keys = self.formats
        if isinstance(keys, str):
            keys = [k.strip() for k in keys.split(",") if k.strip()]
        if not keys or "all" in keys:
            return list(formats.BENCHED)
        unknown = [k for k in keys if k not in FORMAT_KEYS]
        if unknown:
            raise EdgeclassError(f"unknown format(s) {', '.join(unknown)} (choose from all, {', '.join(FORMAT_KEYS)})")
        return [f for f in formats.BENCHED if f.key in keys]

    def validate(self) -> "BenchConfig":
        if self.batch < 1 or self.iters < 1 or self.warmup < 0 or self.seconds <= 0:
            raise EdgeclassError("--batch and --iters must be >= 1, --warmup >= 0 and --seconds > 0")
        self.selected()
        return self


@dataclass
class Row:
    fmt: Format
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


def check_classes(run: Run, ds: Dataset) -> None:
    """A dataset with classes the run's model does not know fails every row the same way: say it
    once, up front (the run's model_card.json, when there is one, is the card of every artifact)."""
    if run.card.is_file():
        class_index(ModelCard.load(run.card), ds.classes)


def open_run(path: Path, data: Optional[str | os.PathLike]) -> Run:
    """The run to bench: a run folder with weights/ (and a config.json naming its dataset, unless ``data``)."""
    if not path.is_dir():
        raise EdgeclassError(f"run folder {path} does not exist (give runs/<name>)")
    run = Run.find(path)
    if run.weights == run.root or not run.weights.is_dir():
        raise EdgeclassError(f"{path} has no weights/ folder; is it a run folder (runs/<name>)? train it first")
    if data is None and not run.has_config:
        raise EdgeclassError(f"{path} has no config.json naming its dataset; pass --data ROOT")
    return run


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
    folder = Path(run)
    found = open_run(folder, data)
    ds = resolve_dataset(found.checkpoint(), data, manifest)  # the dataset of the run of this path
    if not ds.split(cfg.split):
        raise EdgeclassError(f"split '{cfg.split}' of {ds.root} is empty")
    check_classes(found, ds)
    fmts = cfg.selected()
    rows = [Row(fmt, found.artifact(fmt), status, reason) for fmt, (status, reason) in zip(fmts, ensure_artifacts(found, fmts, cfg.build, log))]
    for row in rows:
        if row.status != OK:
            continue
        row.size_mb = row.path.stat().st_size / 1e6
        log(f"bench: {row.fmt.key} ({row.path.name})")
        try:
            measure_row(row, ds, cfg.split, cfg)
        except Exception as e:  # the row says why; the others still fill
            row.status, row.reason = EVAL_FAILED, first_line(e).replace(str(row.path), row.path.name)
            row.top1 = row.p50_ms = row.p95_ms = row.throughput = row.batch = None
    reference = next((r.top1 for r in rows if r.fmt.key == "pytorch" and r.top1 is not None), None)
    for row in rows:
        if reference is not None and row.top1 is not None:
            row.delta_top1 = 100.0 * (row.top1 - reference)
    return BenchResult(
        run=folder,
        dataset=str(ds.root),
        split=cfg.split,
        num_images=len(ds.split(cfg.split)),
        rows=rows,
        machine=machine,
        config=cfg,
    )
