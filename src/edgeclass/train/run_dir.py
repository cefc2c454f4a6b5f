"""The run folder ``runs/<name>/`` and the files training writes into it: config.json, splits.csv,
model_card.json, results.csv (per epoch), and at the end the plots and metrics.json.

Every file is written atomically (temp file + rename), so a run killed at any moment leaves either
the old or the new version of each file, never half of one; the temporary file a kill leaves behind
(``weights/.last.tmp<pid>.pt``) is removed when the run is next opened (``remove_stale_temp_files``).
metrics.json is written last: it is the mark that the final phase is complete (see
``state.final_phase_pending``).
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any, Dict, List, Sequence

from ..data.manifest import MANIFEST_NAME, Dataset, write_manifest, write_record
from ..errors import EdgeclassError
from ..fileio import stale_temp_files, write_text_atomic
from ..image import ImageProblem, ReadLimits, check_image
from ..metrics import ClassificationReport
from ..runs import Run
from ..spec import ModelCard
from .config import TrainConfig
from .state import Progress

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
    """config.json, splits.csv (the manifest used) with its record (splits.report.json: the files
    left out), model_card.json; on resume, results.csv cut back to the epochs the checkpoint holds
    (a kill between writing a row and the checkpoint)."""
    run.weights.mkdir(parents=True, exist_ok=True)
    manifest = run.manifest
    if not resuming:
        if data.source == "manifest":  # a byte-for-byte copy, so its sha256 is the one in the card
            source = Path(cfg.manifest) if cfg.manifest else Path(cfg.data) / MANIFEST_NAME
            digest = data.manifest_sha256
            write_text_atomic(manifest, source.read_bytes().decode("utf-8"))
        else:
            digest = write_manifest(manifest, data.samples)
        # what the split left out, beside the run's copy: a resume (which reads that copy) lists them too
        write_record(manifest, digest, len(data.samples), data.excluded, data.skipped, data.warnings)
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


def remove_stale_temp_files(run: Run) -> List[Path]:
    """Delete the temporary files that killed writers left in the run folder; returns them."""
    stale = stale_temp_files(run.root) + stale_temp_files(run.weights)
    for p in stale:
        p.unlink(missing_ok=True)
    return stale


def unreadable_images(data: Dataset, skipped: Sequence[str]) -> List[ImageProblem]:
    """Every image file the run could not use: those left out when the dataset was split (with the
    split's reason) and those the loaders met (each classified again by the reader for its reason)."""
    out = {str(data.root / p.path): ImageProblem(str(data.root / p.path), p.status, p.reason, p.detail) for p in data.excluded}
    limits = ReadLimits.from_env()
    for path in skipped:
        if path not in out:
            out[path] = check_image(path, limits) or ImageProblem(path, "unreadable", "unreadable during training")
    return [out[k] for k in sorted(out)]


def write_final_files(run: Run, rows: Sequence[dict], report: ClassificationReport, progress: Progress,
                      unreadable: Sequence[ImageProblem]) -> None:
    """The training curves, the confusion matrix and, last (the mark that the run is complete),
    metrics.json: the test report of the best weights and every image the run could not use."""
    from ..plots import plot_confusion_matrix, plot_training_curves

    plot_training_curves(rows, run.root)
    plot_confusion_matrix(report.confusion, report.classes, run.root / "confusion_matrix.png", f"test split, top-1 {report.top1:.2%}")
    metrics = {
        "test": report.to_dict(), "best_epoch": progress.best_epoch, "best_val_top1": progress.best_top1,
        "epochs_done": progress.epoch, "test_top1": report.top1, "test_top5": report.top5,
        "skipped_count": len(unreadable), "skipped_images": [p.path for p in unreadable],
        "unreadable_images": [p.to_dict() for p in unreadable],
    }
    write_json(run.metrics, metrics)


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
