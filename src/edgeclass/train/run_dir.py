"""The run folder ``runs/<name>/`` and the files training writes into it: config.json, splits.csv,
model_card.json, results.csv (per epoch), and at the end metrics.json and the plots.

Every file is written atomically (temp file + rename), so a run killed at any moment leaves either
the old or the new version of each file, never half of one.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any, Dict, List, Sequence

from ..data.manifest import MANIFEST_NAME, Dataset, write_manifest
from ..errors import EdgeclassError
from ..fileio import write_text_atomic
from ..metrics import ClassificationReport
from ..runs import Run
from ..spec import ModelCard
from .config import TrainConfig

RESULTS_FIELDS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "seconds", "images_per_s", "skipped")


def next_run_dir(project: str | os.PathLike, name: str, exist_ok: bool) -> Path:
    """``project/name``, or ``name-2``, ``name-3``... when it exists (unless ``exist_ok``)."""
    base = Path(project) / name
    if exist_ok or not base.exists():
        return base
    n = 2
    while (base.parent / f"{name}-{n}").exists():
        n += 1
    return base.parent / f"{name}-{n}"


def write_json(path: str | os.PathLike, obj: Any) -> Path:
    return write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=True) + "\n")


def format_results(rows: Sequence[Dict[str, Any]]) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=RESULTS_FIELDS, lineterminator="\n", extrasaction="ignore")
    w.writeheader()
    for r in rows:
        w.writerow({k: (f"{v:.6g}" if isinstance(v, float) else v) for k, v in r.items()})
    return buf.getvalue()


def read_results(path: str | os.PathLike) -> List[Dict[str, float]]:
    """Rows of results.csv as numbers (epoch as int); [] when the file does not exist."""
    path = Path(path)
    if not path.is_file():
        return []
    rows = []
    try:
        for r in csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))):
            rows.append({k: (int(float(v)) if k in ("epoch", "skipped") else float(v)) for k, v in r.items() if k in RESULTS_FIELDS and v != ""})
    except (ValueError, csv.Error) as e:
        raise EdgeclassError(f"{path} is not a readable results.csv ({e})") from None
    return rows


def write_run_files(run: Run, cfg: TrainConfig, card: ModelCard, data: Dataset, rows: Sequence[dict], resuming: bool) -> None:
    """config.json, splits.csv (the manifest used), model_card.json; on resume, results.csv cut back
    to the epochs the checkpoint holds (a kill between writing a row and the checkpoint)."""
    run.weights.mkdir(parents=True, exist_ok=True)
    manifest = run.manifest
    if not resuming:
        if data.source == "manifest":  # a byte-for-byte copy, so its sha256 is the one in the card
            source = Path(cfg.manifest) if cfg.manifest else Path(cfg.data) / MANIFEST_NAME
            digest = data.manifest_sha256
            write_text_atomic(manifest, source.read_bytes().decode("utf-8"))
        else:
            digest = write_manifest(manifest, data.samples)
        if not card.provenance.get("manifest_sha256"):
            card.provenance["manifest_sha256"] = digest
        card.save(run.card)
    config = cfg.to_dict()
    config["data"] = str(Path(cfg.data).resolve())
    config["manifest"] = str(Path(cfg.manifest).resolve()) if cfg.manifest else (
        str((Path(cfg.data) / MANIFEST_NAME).resolve()) if data.source == "manifest" else str(manifest.resolve())
    )
    config["dataset_source"] = data.source
    write_json(run.config, config)
    write_text_atomic(run.results, format_results(rows))


def write_final_files(run: Run, rows: Sequence[dict], report: ClassificationReport, best_epoch: int, best_top1: float, skipped: List[str]) -> None:
    """metrics.json (test report of the best weights), the training curves and the confusion matrix."""
    from ..plots import plot_confusion_matrix, plot_training_curves

    metrics = {"test": report.to_dict(), "best_epoch": best_epoch, "best_val_top1": best_top1, "skipped_images": skipped}
    metrics["test_top1"], metrics["test_top5"] = report.top1, report.top5
    write_json(run.metrics, metrics)
    plot_training_curves(rows, run.root)
    plot_confusion_matrix(report.confusion, report.classes, run.root / "confusion_matrix.png", f"test split, top-1 {report.top1:.2%}")


def epoch_row(epoch: int, train_loss: float, train_acc: float, val_loss: float, val_acc: float, lr: float,
              seconds: float, images: int, skipped: int) -> Dict[str, Any]:
    """One row of results.csv (the fields of ``RESULTS_FIELDS``)."""
    return {
        "epoch": epoch, "train_loss": train_loss, "train_acc": train_acc, "val_loss": val_loss, "val_acc": val_acc,
        "lr": lr, "seconds": seconds, "images_per_s": images / max(seconds, 1e-9), "skipped": skipped,
    }


def epoch_line(row: Dict[str, Any], epochs: int, improved: bool) -> str:
    """The log line of one epoch."""
    return (
        f"epoch {row['epoch']}/{epochs}  train loss {row['train_loss']:.4f} acc {row['train_acc']:.2%}  "
        f"val loss {row['val_loss']:.4f} acc {row['val_acc']:.2%}  lr {row['lr']:.3g}  {row['seconds']:.1f}s "
        f"{row['images_per_s']:.1f} img/s" + ("  *best" if improved else "")
        + (f"  skipped {row['skipped']} unreadable" if row["skipped"] else "")
    )
