"""Accuracy of any artifact (checkpoint, TorchScript, ONNX fp32/fp16/int8, TensorRT engine) on a split.

Every format is evaluated through the runtime's ``load_backend`` and fed by ``edgeclass.preprocess``,
so the number reported here is what ``edgeclass run`` will do with the same images: there is no
separate evaluation transform that could drift from the deployed one. Evaluation is deterministic:
the split's samples in manifest order, fixed batches, no augmentation, no randomness.

On the ``val`` split, ``evaluate`` also chooses the "unknown" threshold (the confidence that keeps a
fraction ``keep`` of the correct predictions) and stores it in the artifact's own model card.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

from ..artifacts import formats, write_card
from ..data.load import load_dataset
from ..data.manifest import SPLITS, Dataset, Sample
from ..errors import EdgeclassError
from ..fileio import write_json_atomic
from ..metrics import ClassificationReport, classification_report
from ..preprocess import preprocess_files, softmax
from ..runs import EVAL_DIR, Run
from ..spec import ModelCard, class_index

@dataclass
class EvalConfig:
    """What to evaluate on and how. ``keep`` only matters on the val split (threshold choice)."""

    split: str = "test"
    batch: int = 32
    keep: float = 0.99
    write_threshold: bool = True  # on the val split: store the chosen threshold in the artifact's card
    backend_options: Dict[str, Any] = field(default_factory=dict)

    def validate(self) -> "EvalConfig":
        if self.split not in SPLITS:
            raise EdgeclassError(f"unknown split {self.split!r} (choose from {', '.join(SPLITS)})")
        if self.batch < 1:
            raise EdgeclassError(f"batch size {self.batch} must be at least 1")
        if not 0.0 < self.keep <= 1.0:
            raise EdgeclassError(f"--keep {self.keep} must be in (0, 1], e.g. 0.99")
        return self


@dataclass
class Threshold:
    """The chosen "unknown" threshold and what it was chosen from."""

    value: float
    keep: float
    kept: float  # fraction of correct predictions at or above ``value`` (>= keep)
    rejected_wrong: float  # fraction of wrong predictions below ``value`` (what the threshold buys)
    split: str

    def to_dict(self) -> Dict[str, Any]:
        return {
            "value": self.value,
            "keep": self.keep,
            "kept_correct": self.kept,
            "rejected_wrong": self.rejected_wrong,
            "split": self.split,
        }


@dataclass
class EvalResult:
    model: Path
    backend: str
    card: ModelCard  # the card as stored in the artifact after evaluation (with a new threshold on val)
    split: str
    report: ClassificationReport
    logits: np.ndarray  # (N, model classes), in sample order
    labels: np.ndarray  # (N,) model class indices
    paths: List[str]  # dataset-relative path of each evaluated sample
    skipped: List[str] = field(default_factory=list)  # unreadable images
    threshold: Optional[Threshold] = None
    seconds: float = 0.0

    def to_dict(self) -> Dict[str, Any]:
        d = {
            "model": str(self.model),
            "backend": self.backend,
            "precision": self.card.precision,
            "split": self.split,
            "skipped": list(self.skipped),
            "seconds": round(self.seconds, 3),
            **self.report.to_dict(),
        }
        d["threshold"] = self.threshold.to_dict() if self.threshold else None
        return d


# --- where the data comes from ------------------------------------------------------------------


def recorded_dataset(run: Run) -> Tuple[Optional[Path], Optional[Path]]:
    """(root, manifest) recorded by a run, or (None, None) where there is no usable record."""
    try:
        return run.dataset() or (None, None)
    except EdgeclassError:
        return None, None


def resolve_dataset(
    model: Path, data: Optional[str | os.PathLike] = None, manifest: Optional[str | os.PathLike] = None
) -> Dataset:
    """The dataset to evaluate on: ``data`` if given, else the one recorded in the model's run folder.
    For the run's own dataset, the run's manifest (its exact split) is used unless ``manifest`` is given;
    for another dataset, ``manifest`` or ``ROOT/splits.csv``."""
    run = Run.find(model.resolve())
    if data is None:
        if not run.has_config:
            raise EdgeclassError(f"{model} is not inside runs/<name>/weights/; pass --data ROOT (the dataset to evaluate on)")
        paths = run.dataset()
        if paths is None:
            raise EdgeclassError(f"{run.config} does not name its dataset; pass --data ROOT")
        data, run_manifest = paths
    else:
        run_data, run_manifest = recorded_dataset(run)
        if run_data is None or not _same_path(run_data, Path(data)):
            run_manifest = None
    if manifest is None and run_manifest is not None and run_manifest.is_file():
        manifest = run_manifest
    return load_dataset(data, manifest=manifest)


def _same_path(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def labels_for(card: ModelCard, ds: Dataset, samples: Sequence[Sample]) -> np.ndarray:
    """Model class index of each sample; a dataset class the model does not know is an error."""
    class_index(card, ds.classes)  # names every unknown class at once, not only this split's
    return np.asarray(class_index(card, [s.label for s in samples]), dtype=np.int64)


# --- running a backend over files ---------------------------------------------------------------


def open_backend(model: str | os.PathLike, **options: Any):
    """The runtime backend for ``model`` (chosen by suffix through the format table)."""
    from ..runtime.backends import load_backend

    path = Path(model)
    formats.require_file(path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # torch.jit.load's deprecation notice, once per artifact
        return load_backend(path, **options)


def chunk_size(backend: Any, batch: int) -> int:
    """The batch to feed: ``batch``, capped by what the backend accepts (engines have a max)."""
    cap = getattr(backend, "max_batch", None)
    return max(1, min(batch, int(cap))) if cap else max(1, batch)


def predict_logits(backend: Any, card: ModelCard, files: Sequence[Path], batch: int) -> Tuple[np.ndarray, List[int], List[str]]:
    """(logits for the readable files in order, their indices in ``files``, messages for the skipped)."""
    step = chunk_size(backend, batch)
    outs: List[np.ndarray] = []
    kept: List[int] = []
    skipped: List[str] = []
    for start in range(0, len(files), step):
        x, ok, bad = preprocess_files(files[start : start + step], card.preprocess)
        skipped.extend(bad)
        if not ok:
            continue
        logits = np.asarray(backend.predict(x), dtype=np.float32)
        if logits.shape != (len(ok), card.num_classes):
            raise EdgeclassError(
                f"{getattr(backend, 'name', 'backend')} returned shape {tuple(logits.shape)} for a batch of {len(ok)}; "
                f"expected ({len(ok)}, {card.num_classes})"
            )
        outs.append(logits)
        kept.extend(start + i for i in ok)
    logits = np.concatenate(outs) if outs else np.zeros((0, card.num_classes), np.float32)
    return logits, kept, skipped


# --- the unknown threshold ----------------------------------------------------------------------


def stored_threshold(value: float) -> float:
    """6 decimals, rounded down: the threshold still keeps the prediction it was chosen at, even when
    the runtime's logits differ from ours in the last bit (another batch size, another backend)."""
    return math.floor(value * 1e6) / 1e6


def choose_threshold(probs: np.ndarray, labels: np.ndarray, keep: float, split: str = "val") -> Threshold:
    """The highest confidence ``t`` (to 6 decimals, rounded down) such that at least ``keep`` of the
    correct predictions have confidence >= t. Below ``t`` the runtime says "unknown"; on this split
    that costs at most 1 - keep of the correct answers and rejects ``rejected_wrong`` of the wrong ones."""
    if not 0.0 < keep <= 1.0:
        raise EdgeclassError(f"keep {keep} must be in (0, 1]")
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    good = np.sort(conf[correct])
    if good.size == 0:
        raise EdgeclassError("the model gets no image of this split right; cannot choose an unknown threshold")
    # index of the smallest confidence that must still be accepted
    drop = int(np.floor((1.0 - keep) * good.size + 1e-9))
    value = stored_threshold(float(good[min(drop, good.size - 1)]))
    wrong = conf[~correct]
    return Threshold(
        value=value,
        keep=keep,
        kept=float((good >= value).mean()),
        rejected_wrong=float((wrong < value).mean()) if wrong.size else 0.0,
        split=split,
    )


def card_with_threshold(card: ModelCard, th: Threshold, ds: Dataset) -> ModelCard:
    return card.replace(
        threshold=th.value,
        provenance={"threshold": {**th.to_dict(), "manifest_sha256": ds.manifest_sha256}},
    )


# --- the whole evaluation -----------------------------------------------------------------------


def evaluate(
    model: str | os.PathLike,
    data: Optional[str | os.PathLike] = None,
    manifest: Optional[str | os.PathLike] = None,
    config: Optional[EvalConfig] = None,
) -> EvalResult:
    """Evaluate one artifact on one split of a dataset (see the module docstring)."""
    cfg = (config or EvalConfig()).validate()
    model = Path(model)
    backend = open_backend(model, **cfg.backend_options)
    try:
        card: ModelCard = backend.card
        ds = resolve_dataset(model, data, manifest)
        samples = ds.split(cfg.split)
        if not samples:
            raise EdgeclassError(f"split '{cfg.split}' of {ds.root} is empty")
        labels = labels_for(card, ds, samples)
        t0 = time.perf_counter()
        logits, kept, skipped = predict_logits(backend, card, [ds.abspath(s) for s in samples], cfg.batch)
        seconds = time.perf_counter() - t0
        backend_name = str(getattr(backend, "name", type(backend).__name__))
    finally:
        backend.close()
    if not kept:
        raise EdgeclassError(f"no readable image in split '{cfg.split}' of {ds.root}")
    labels = labels[kept]
    report = classification_report(logits, labels, card.classes)
    threshold = None
    if cfg.split == "val":
        threshold = choose_threshold(softmax(logits), labels, cfg.keep, cfg.split)
        if cfg.write_threshold:
            card = card_with_threshold(card, threshold, ds)
            write_card(model, card)
    return EvalResult(
        model=model,
        backend=backend_name,
        card=card,
        split=cfg.split,
        report=report,
        logits=logits,
        labels=labels,
        paths=[samples[i].path for i in kept],
        skipped=skipped,
        threshold=threshold,
        seconds=seconds,
    )


# --- reports ------------------------------------------------------------------------------------


def default_out_dir(model: Path) -> Path:
    """``runs/<name>/eval`` for an artifact of a run, else ``eval`` next to the model."""
    run = Run.find(model.resolve())
    return run.eval_dir if run.has_config else model.resolve().parent / EVAL_DIR


def save_eval(result: EvalResult, out_dir: str | os.PathLike) -> Dict[str, Path]:
    """``<artifact>.<split>.json`` (metrics, per-class, confusion counts) and
    ``<artifact>.<split>.confusion.png`` in ``out_dir``; returns their paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"{result.model.name}.{result.split}"
    paths = {"json": out / f"{stem}.json", "confusion": out / f"{stem}.confusion.png"}
    write_json_atomic(paths["json"], result.to_dict())
    from .. import plots

    plots.plot_confusion_matrix(
        result.report.confusion,
        result.report.classes,
        paths["confusion"],
        title=f"{result.model.name} on {result.split} (top-1 {result.report.top1:.2%})",
    )
    return paths


def format_eval(result: EvalResult) -> str:
    """The report printed by ``edgeclass eval``: summary, per-class table, threshold."""
    r = result.report
    k = min(5, len(r.classes))
    lines = [
        f"{result.model} ({result.backend}, {result.card.precision}) on split '{result.split}': "
        f"{r.num_samples} images in {result.seconds:.1f} s",
        f"top-1 {r.top1:.2%}   top-{k} {r.top5:.2%}   macro F1 {r.macro_f1:.3f}",
    ]
    if result.skipped:
        lines.append(f"skipped {len(result.skipped)} unreadable images:")
        lines += [f"  {text}" for text in result.skipped]
    width = max([len("class")] + [len(m.name) for m in r.per_class])
    lines.append(f"{'class':<{width}}  precision  recall     f1  support")
    for m in r.per_class:
        if m.support == 0 and not r.confusion[:, r.classes.index(m.name)].any():
            continue  # a model class absent from this dataset
        lines.append(f"{m.name:<{width}}  {m.precision:9.3f}  {m.recall:6.3f}  {m.f1:5.3f}  {m.support:7d}")
    if result.threshold is not None:
        t = result.threshold
        lines.append(
            f"unknown threshold {t.value:.6f}: keeps {t.kept:.2%} of correct predictions (target {t.keep:.2%}), "
            f"rejects {t.rejected_wrong:.2%} of wrong ones"
        )
    return "\n".join(lines)
