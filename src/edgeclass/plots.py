"""Training curves and confusion matrices as PNG files (matplotlib, Agg backend: no display needed).

Used by the trainer (``loss.png``, ``accuracy.png``, ``confusion_matrix.png``) and by ``edgeclass eval``.
Every function takes plain numbers and a path and returns the path it wrote, atomically (a kill
mid-write leaves the previous file, never half a PNG).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from .fileio import atomic_path
from .metrics import normalize_rows


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=True)  # files only; works on headless servers and in threads
    import matplotlib.pyplot as plt

    return plt


def _save(plt, fig, path: str | os.PathLike) -> Path:
    try:
        with atomic_path(path) as tmp:  # the temporary name keeps the .png suffix matplotlib reads
            fig.savefig(tmp)
    finally:
        plt.close(fig)
    return Path(path)


def plot_curves(
    epochs: Sequence[int], series: Mapping[str, Sequence[float]], path: str | os.PathLike, ylabel: str, title: str = ""
) -> Path:
    """One line per named series against the epoch number (e.g. train and val loss)."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    for label, values in series.items():
        ax.plot(list(epochs), list(values), marker="o", markersize=3, label=label)
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return _save(plt, fig, path)


def plot_training_curves(rows: Sequence[Mapping[str, float]], out_dir: str | os.PathLike) -> list:
    """``loss.png`` and ``accuracy.png`` from results.csv rows (keys epoch, train_loss, val_loss,
    train_acc, val_acc)."""
    out_dir = Path(out_dir)
    epochs = [int(r["epoch"]) for r in rows]
    loss = plot_curves(
        epochs, {"train": [r["train_loss"] for r in rows], "val": [r["val_loss"] for r in rows]}, out_dir / "loss.png", "loss", "Loss"
    )
    acc = plot_curves(
        epochs, {"train": [r["train_acc"] for r in rows], "val": [r["val_acc"] for r in rows]}, out_dir / "accuracy.png", "top-1 accuracy", "Accuracy"
    )
    return [loss, acc]


def _draw_matrix(ax, values: np.ndarray, classes: Sequence[str], title: str, fmt: str) -> None:
    im = ax.imshow(values, cmap="Blues", vmin=0, vmax=max(float(values.max()), 1e-9))
    n = len(classes)
    ax.set_xticks(range(n))
    ax.set_yticks(range(n))
    ax.set_xticklabels(classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticklabels(classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if n <= 30:  # numbers stay legible up to ~30 classes
        threshold = values.max() / 2.0
        for i in range(n):
            for j in range(n):
                v = values[i, j]
                ax.text(j, i, format(v, fmt), ha="center", va="center", fontsize=7, color="white" if v > threshold else "black")
    ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04)


def plot_confusion_matrix(cm: np.ndarray, classes: Sequence[str], path: str | os.PathLike, title: str = "") -> Path:
    """Counts (left) and row-normalised recall (right) side by side in one PNG."""
    plt = _pyplot()
    cm = np.asarray(cm)
    side = max(4.0, 0.45 * len(classes) + 2.0)
    fig, (a, b) = plt.subplots(1, 2, figsize=(2 * side + 1, side), dpi=100)
    _draw_matrix(a, cm, classes, "counts", "d")
    _draw_matrix(b, normalize_rows(cm), classes, "normalised (rows sum to 1)", ".2f")
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return _save(plt, fig, path)
