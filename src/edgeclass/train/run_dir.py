"""The run folder ``runs/<name>/`` and the small files in it (config.json, results.csv, metrics.json).

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

from ..errors import EdgeclassError
from ..fileio import write_text_atomic

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
