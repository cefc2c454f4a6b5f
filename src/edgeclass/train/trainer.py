"""The training loop, readable top to bottom: ``train_one_epoch``, ``evaluate``, ``train(config)``.

``train`` builds its components (``components.py``: data, card, model, loaders, optimizer,
schedule — restored from ``last.pt`` on ``--resume``, see ``state.py``), opens the run folder
(``run_dir.py``), then runs epochs: train, validate, write ``results.csv`` and ``weights/last.pt``
(and ``best.pt`` when val top-1 improved). At the end (the final phase) it evaluates ``best.pt`` on
the test split and writes the plots and, last, ``metrics.json``. Everything that can fail is checked
before the first file is written, so a run (or a resume) that fails leaves the run folder as it was.
A kill at any moment loses at most the epoch under way: ``--resume`` carries on from ``last.pt``,
and a run killed in its final phase is finished by ``--resume`` (``state.final_phase_pending``).
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, List, Optional, Tuple

import numpy as np
import torch
from torch import nn

from ..data.datasets import UNREADABLE, ImageDataset
from ..fileio import write_text_atomic
from ..metrics import ClassificationReport, classification_report
from ..runs import Run
from ..spec import ModelCard
from . import distributed as D
from .checkpoint import load_checkpoint, load_weights_into, save_checkpoint
from .components import Components, build_components, make_loader
from .config import TrainConfig
from .freeze import apply_schedule, set_frozen_batchnorm_eval, trainable_count
from .frozen import fast_frozen_forward
from .run_dir import (epoch_line, epoch_row, format_results, next_run_dir, read_results, remove_stale_temp_files,
                      unreadable_images, write_final_files, write_run_files)
from .state import Resume, final_phase_pending, resume_config, seed_everything, training_checkpoint, with_training_state

Log = Callable[[str], None]

__all__ = ["EpochStats", "EvalResult", "TrainResult", "evaluate", "resume_config", "train", "train_one_epoch"]


# --------------------------------------------------------------------------- one epoch


@dataclass
class EpochStats:
    loss: float = 0.0
    acc: float = 0.0
    images: int = 0
    seconds: float = 0.0
    skipped: List[int] = field(default_factory=list)  # dataset indices of unreadable images

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0


def _drop_unreadable(x: torch.Tensor, y: torch.Tensor, idx: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, List[int]]:
    """Remove items whose image could not be decoded; return them as skipped dataset indices."""
    bad = y == UNREADABLE
    if not bool(bad.any()):
        return x, y, []
    return x[~bad], y[~bad], idx[bad].tolist()


def _to_device(x: torch.Tensor, device: torch.device) -> torch.Tensor:
    if device.type == "cuda":
        return x.to(device, non_blocking=True, memory_format=torch.channels_last)
    return x


def train_one_epoch(
    model: nn.Module,
    loader: torch.utils.data.DataLoader,
    criterion: nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Optional[torch.optim.lr_scheduler.LRScheduler],
    device: torch.device,
    scaler: Optional[torch.amp.GradScaler] = None,
    progress: Optional[Callable[[Any], Any]] = None,
) -> EpochStats:
    """One pass over ``loader``; the scheduler steps every iteration. BatchNorm layers whose
    parameters are frozen stay in eval mode (their running statistics do not move)."""
    model.train()
    set_frozen_batchnorm_eval(model)
    use_amp = scaler is not None and scaler.is_enabled()
    loss_sum, correct, seen, skipped = 0.0, 0, 0, []
    start = time.perf_counter()
    batches = progress(loader) if progress else loader
    for x, y, idx in batches:
        x, y, bad = _drop_unreadable(x, y, idx)
        skipped.extend(bad)
        if y.numel() == 0:
            continue
        x, y = _to_device(x, device), y.to(device, non_blocking=True)
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=use_amp):
            logits = model(x)
            loss = criterion(logits, y)
        optimizer.zero_grad(set_to_none=True)
        if use_amp:
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
        else:
            loss.backward()
            optimizer.step()
        if scheduler is not None:
            scheduler.step()
        n = y.numel()
        loss_sum += float(loss.detach()) * n
        correct += int((logits.detach().argmax(1) == y).sum())
        seen += n
        if progress is not None and hasattr(batches, "set_postfix"):
            elapsed = time.perf_counter() - start
            batches.set_postfix(loss=f"{loss_sum / seen:.4f}", img_s=f"{seen / max(elapsed, 1e-9):.1f}", refresh=False)
    return EpochStats(loss_sum / max(seen, 1), correct / max(seen, 1), seen, time.perf_counter() - start, skipped)


@dataclass
class EvalResult:
    loss: float
    scores: np.ndarray  # N x C logits, in dataset order
    labels: np.ndarray  # N
    skipped: List[int]  # dataset indices of unreadable images

    @property
    def top1(self) -> float:
        return float((self.scores.argmax(1) == self.labels).mean()) if self.labels.size else 0.0


@torch.inference_mode()
def evaluate(model: nn.Module, loader: torch.utils.data.DataLoader, device: torch.device, num_classes: int) -> EvalResult:
    """Logits for every readable item of ``loader`` (eval transform = ``edgeclass.preprocess``)."""
    model.eval()
    scores, labels, order, skipped = [], [], [], []
    for x, y, idx in loader:
        keep = y != UNREADABLE
        skipped.extend(idx[~keep].tolist())
        if not bool(keep.any()):
            continue
        x = _to_device(x[keep], device)
        with torch.autocast(device_type=device.type, dtype=torch.float16, enabled=device.type == "cuda"):
            logits = model(x)
        scores.append(logits.float().cpu())
        labels.append(y[keep])
        order.append(idx[keep])
    if not scores:
        return EvalResult(0.0, np.zeros((0, num_classes), np.float32), np.zeros(0, np.int64), skipped)
    s, l = torch.cat(scores), torch.cat(labels)
    loss = float(nn.functional.cross_entropy(s, l, reduction="sum")) / len(l)
    return EvalResult(loss, s.numpy(), l.numpy().astype(np.int64), skipped)


def evaluate_distributed(model: nn.Module, data: ImageDataset, info: D.DistInfo, device: torch.device, batch: int, workers: int, num_classes: int) -> EvalResult:
    """Each rank evaluates every world-th item; results are gathered so every rank sees the whole split."""
    subset = torch.utils.data.Subset(data, list(range(info.rank, len(data), info.world))) if info.enabled else data
    res = evaluate(model, make_loader(subset, batch, workers, device, shuffle_sampler=None), device, num_classes)
    if not info.enabled:
        return res
    parts = D.gather_objects(info, (res.loss * len(res.labels), res.scores, res.labels, res.skipped))
    total = sum(len(p[2]) for p in parts)
    return EvalResult(
        loss=sum(p[0] for p in parts) / max(total, 1),
        scores=np.concatenate([p[1] for p in parts]),
        labels=np.concatenate([p[2] for p in parts]),
        skipped=sorted(i for p in parts for i in p[3]),
    )


# --------------------------------------------------------------------------- the whole run


@dataclass
class TrainResult:
    run_dir: Path
    epochs_done: int
    best_epoch: int
    best_val_top1: float
    test: Optional[ClassificationReport]  # None when the run stopped early with --stop-after
    skipped_images: List[str]


def _progress(info: D.DistInfo, desc: str, total: int):
    """A tqdm bar on a terminal (rank 0 only); nothing when stderr is not a TTY (logs, CI)."""
    if not info.is_main or not sys.stderr.isatty():
        return None
    from tqdm import tqdm

    return lambda it: tqdm(it, desc=desc, total=total, leave=False, dynamic_ncols=True)


def train(cfg: TrainConfig, resume: Optional[Resume] = None, log: Log = print) -> TrainResult:
    """Train ``cfg`` (or carry on ``resume``) and write the run folder. Returns where and how well."""
    cfg.validate()
    info, device = D.init_distributed(cfg.device)
    try:
        return _train(cfg, resume, info, device, log if info.is_main else (lambda _m: None))
    finally:
        D.shutdown(info)


def _train(cfg: TrainConfig, resume: Optional[Resume], info: D.DistInfo, device: torch.device, log: Log) -> TrainResult:
    seed_everything(cfg.seed, info.rank)
    c = build_components(cfg, resume, info, device)  # everything that can fail, before anything is written
    progress = c.progress
    finishing = final_phase_pending(resume, progress, cfg)  # every epoch trained; only the final phase is left
    start_epoch = progress.epoch
    run, rows, card = _open_run_folder(cfg, c, resume, info, log)
    run_dir = run.root
    for warning in c.data.warnings:
        log(f"warning: {warning}")
    if c.data.excluded:
        log(f"left out {len(c.data.excluded)} image files the reader refused (listed in metrics.json; first: {c.data.excluded[0].text()})")
    log(f"finishing {run_dir}: all {progress.epoch} epochs are trained; testing best.pt" if finishing
        else _start_line(cfg, c, card, info, device, resume, run_dir))

    skipped_paths = set(progress.skipped)  # unreadable images met in any split (kept in last.pt)
    step_model: nn.Module = c.model  # what the training steps call (see train/frozen.py)
    ddp_model, trainable_before = None, None
    for epoch in range(start_epoch, start_epoch if finishing else cfg.epochs):
        if c.stages:
            active = apply_schedule(c.model.net, c.stages, epoch)
            if epoch == start_epoch or any(s.epoch == epoch for s in c.stages):
                log(f"epoch {epoch + 1}: training {', '.join(active)}")
        trainable_now = tuple(p.requires_grad for p in c.model.net.parameters())
        if trainable_now != trainable_before:  # the frozen set changed: new fast forward, new DDP wrapper
            step_model = fast_frozen_forward(c.model, cfg.arch) or c.model
            if info.enabled:  # DDP registers the trainable parameters once
                ddp_model = wrap_ddp(step_model, device)
            trainable_before = trainable_now
        c.sampler.set_epoch(epoch)
        stats = train_one_epoch(
            ddp_model or step_model, c.train_loader, c.criterion, c.optimizer, c.scheduler, device, c.scaler,
            _progress(info, f"epoch {epoch + 1}/{cfg.epochs}", c.steps_per_epoch),
        )
        val = evaluate_distributed(c.model, c.val_set, info, device, cfg.val_batch, c.workers, card.num_classes)
        loss_sum, correct, seen = D.sum_across(info, [stats.loss * stats.images, stats.acc * stats.images, stats.images], device)
        train_skipped = [i for part in D.gather_objects(info, stats.skipped) for i in part]
        skipped_paths.update(c.train_set.path(i) for i in train_skipped)
        skipped_paths.update(c.val_set.path(i) for i in val.skipped)
        row = epoch_row(epoch + 1, loss_sum / max(seen, 1), correct / max(seen, 1), val.loss, val.top1,
                        c.optimizer.param_groups[0]["lr"], stats.seconds, seen, len(train_skipped) + len(val.skipped))
        rows.append(row)
        improved = progress.record(epoch + 1, val.top1, val.loss)
        progress.skipped = sorted(skipped_paths)
        if info.is_main:
            ckpt = training_checkpoint(c.model, card, progress, cfg)
            if improved:
                save_checkpoint(run.checkpoint("best"), ckpt)
            write_text_atomic(run.results, format_results(rows))
            save_checkpoint(run.checkpoint("last"), with_training_state(ckpt, c.optimizer, c.scheduler, c.scaler))
        log(epoch_line(row, cfg.epochs, improved))
        D.barrier(info)
        if progress.stopped_early(cfg.patience) and epoch + 1 < cfg.epochs:
            log(f"early stop: no better val top-1 for {cfg.patience} epochs (best {progress.best_top1:.2%} at epoch {progress.best_epoch})")
            break
        if cfg.stop_after and epoch + 1 - start_epoch >= cfg.stop_after and epoch + 1 < cfg.epochs:
            log(f"stopped after {cfg.stop_after} epochs as asked; carry on with: edgeclass train --resume {run.checkpoint('last')}")
            return TrainResult(run_dir, epoch + 1, progress.best_epoch, progress.best_top1, None, sorted(skipped_paths))

    # the final phase: test best.pt, then plots and metrics.json (written last: the run is complete)
    report = _test_best(c, card, run, info, device, cfg, skipped_paths)
    unreadable = unreadable_images(c.data, sorted(skipped_paths))
    if info.is_main:
        write_final_files(run, rows, report, progress, unreadable)
    D.barrier(info)  # no rank tears the process group down while rank 0 is still writing
    if unreadable:
        log(f"{len(unreadable)} image files could not be used (listed in {run.metrics}); first: {unreadable[0].text()}")
    log(f"test top-1 {report.top1:.2%} top-5 {report.top5:.2%} (best epoch {progress.best_epoch}, val top-1 {progress.best_top1:.2%}); run saved to {run_dir}")
    return TrainResult(run_dir, progress.epoch, progress.best_epoch, progress.best_top1, report, [p.path for p in unreadable])


def _open_run_folder(cfg: TrainConfig, c: Components, resume: Optional[Resume], info: D.DistInfo, log: Log) -> Tuple[Run, List[dict], ModelCard]:
    """(the run, results rows so far, the card as saved there): rank 0 creates or reopens the folder,
    removes the temporary files a killed writer left there and writes config/manifest/card; the
    other ranks learn its path and read the card."""
    if resume is not None:
        root = resume.run_dir
        rows = [r for r in read_results(Run.at(root).results) if r["epoch"] <= c.progress.epoch]
    else:
        root = next_run_dir(cfg.project, cfg.name or cfg.arch, cfg.exist_ok).resolve() if info.is_main else None
        rows = []
    run = Run.at(D.broadcast_object(info, str(root)))
    if info.is_main:
        for stale in remove_stale_temp_files(run):
            log(f"removed {stale} (left by a writer that was killed)")
        write_run_files(run, cfg, c.card, c.data, rows, resume is not None)
    D.barrier(info)
    return run, rows, ModelCard.load(run.card)


def _start_line(cfg: TrainConfig, c: Components, card: ModelCard, info: D.DistInfo, device: torch.device,
                resume: Optional[Resume], run_dir: Path) -> str:
    trainable, total = trainable_count(c.model.net) if not c.stages else (None, None)
    return (
        f"{'resuming' if resume else 'training'} {cfg.arch} ({cfg.recipe}) on {len(c.train_set)} train / {len(c.val_set)} val / "
        f"{len(c.test_set)} test images of {card.num_classes} classes at {cfg.imgsz} px, {device.type}"
        + (f" x{info.world} processes" if info.enabled else "")
        + (f", {trainable:,} of {total:,} parameters trainable" if trainable is not None else f", unfreeze schedule {cfg.unfreeze_schedule}")
        + (f", from epoch {c.progress.epoch + 1}" if resume else "")
        + f" -> {run_dir}"
    )


def _test_best(c: Components, card: ModelCard, run: Run, info: D.DistInfo, device: torch.device, cfg: TrainConfig,
               skipped_paths: set) -> ClassificationReport:
    """The test report of ``best.pt`` (loaded into the model); its unreadable images join ``skipped_paths``."""
    best = load_checkpoint(run.checkpoint("best"))
    load_weights_into(c.model, best, str(run.checkpoint("best")))
    test = evaluate_distributed(c.model, c.test_set, info, device, cfg.val_batch, c.workers, card.num_classes)
    skipped_paths.update(c.test_set.path(i) for i in test.skipped)
    return classification_report(test.scores, test.labels, card.classes)


def wrap_ddp(model: nn.Module, device: torch.device) -> nn.Module:
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
