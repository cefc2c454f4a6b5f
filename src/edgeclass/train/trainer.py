"""The training loop, readable top to bottom: ``train_one_epoch``, ``evaluate``, ``train(config)``.

``train`` resolves the dataset (manifest, pre-split folders or a split made now), builds the model
and its card, the optimizer and learning-rate schedule, then runs epochs: train, validate, write
``results.csv`` and ``weights/last.pt`` (and ``best.pt`` when val top-1 improved). At the end it
evaluates ``best.pt`` on the test split and writes ``metrics.json`` and the plots.

Resume (``--resume runs/x/weights/last.pt``) restores weights, optimizer, schedule, epoch, best
metric and RNG state and carries on from the next epoch. Everything is validated before the first
file is written, so a resume that fails leaves the run folder as it was.
"""

from __future__ import annotations

import math
import random
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn

from .. import __version__
from ..data.datasets import UNREADABLE, Augment, ImageDataset, eval_dataset, train_dataset
from ..data.load import load_dataset
from ..data.manifest import MANIFEST_NAME, Dataset, write_manifest
from ..errors import EdgeclassError
from ..metrics import ClassificationReport, classification_report
from ..spec import ModelCard, Preprocess
from . import distributed as D
from .checkpoint import card_of, load_checkpoint, load_weights_into, make_checkpoint, save_checkpoint
from .config import TrainConfig
from .freeze import apply_schedule, param_groups, parse_schedule, set_frozen_batchnorm_eval, trainable_count
from .frozen import fast_frozen_forward
from .models import build_model
from .run_dir import format_results, next_run_dir, read_results, write_json, write_text_atomic

Log = Callable[[str], None]

# Options that may change when resuming; everything else comes from the checkpoint's config.
RESUME_OVERRIDABLE = ("data", "epochs", "patience", "device", "workers", "stop_after", "amp", "val_batch")


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


# --------------------------------------------------------------------------- building blocks


def make_loader(data, batch: int, workers: int, device: torch.device, shuffle_sampler=None) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(
        data,
        batch_size=batch,
        sampler=shuffle_sampler,
        shuffle=False,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        persistent_workers=workers > 0,
        drop_last=False,
    )


def default_workers(requested: int, device: torch.device) -> int:
    """-1 (auto): no worker processes on CPU, where they compete with the compute threads for the
    same cores (on 2 cores: at most 3% faster when the machine is idle, up to 45% slower when it is
    busy; see the README, Train › Speed); on CUDA, where decoding must keep up with the GPU, up to 8."""
    if requested >= 0:
        return requested
    if device.type != "cuda":
        return 0
    import os

    return min(8, max(1, (os.cpu_count() or 2) - 1))


def build_optimizer(cfg: TrainConfig, groups: List[dict]) -> torch.optim.Optimizer:
    if cfg.optimizer == "adam":
        return torch.optim.Adam(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    if cfg.optimizer == "adamw":
        return torch.optim.AdamW(groups, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.SGD(groups, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, nesterov=True)


def lr_factor(cfg: TrainConfig, steps_per_epoch: int) -> Callable[[int], float]:
    """Multiplier of the base learning rate at optimizer step ``i`` (stepped every iteration).

    step: ``gamma ** (epoch // step_size)`` (StepLR). cosine: linear warm-up from 1% over
    ``warmup_epochs``, then half a cosine down to 0 at the last step. constant: 1.
    """
    total = max(1, cfg.epochs * steps_per_epoch)
    warmup = int(round(cfg.warmup_epochs * steps_per_epoch))

    def factor(i: int) -> float:
        if cfg.scheduler == "step":
            return cfg.gamma ** ((i // steps_per_epoch) // max(1, cfg.step_size))
        if cfg.scheduler == "constant":
            return 1.0
        if i < warmup:
            return 0.01 + 0.99 * i / warmup
        progress = min(1.0, (i - warmup) / max(1, total - warmup))
        return 0.5 * (1.0 + math.cos(math.pi * progress))

    return factor


def rng_state() -> Dict[str, Any]:
    """Python, numpy and torch RNG states as tensors and plain lists (``weights_only`` loadable)."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    state: Dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {"keys": torch.from_numpy(np_state[1].astype(np.int64)), "pos": int(np_state[2]),
                  "has_gauss": int(np_state[3]), "cached_gaussian": float(np_state[4])},
        "python": {"version": py_state[0], "state": list(py_state[1]), "gauss": py_state[2]},
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state(("MT19937", n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])


def seed_everything(seed: int, rank: int = 0) -> None:
    random.seed(seed + rank)
    np.random.seed((seed + rank) % 2**32)
    torch.manual_seed(seed + rank)


def resolve_data(cfg: TrainConfig) -> Dataset:
    return load_dataset(cfg.data, manifest=cfg.manifest, ratios=cfg.ratios, seed=cfg.seed)


def make_card(cfg: TrainConfig, data: Dataset) -> ModelCard:
    return ModelCard(
        classes=list(data.classes),
        arch=cfg.arch,
        preprocess=Preprocess.for_size(cfg.imgsz),
        provenance={
            "manifest_sha256": data.manifest_sha256,
            "dataset": str(Path(cfg.data).resolve()),
            "recipe": cfg.recipe,
            "weights": cfg.resolved_weights(),
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "edgeclass": __version__,
            "torch": torch.__version__,
        },
    ).validate()


# --------------------------------------------------------------------------- resume


@dataclass
class Resume:
    """A validated ``--resume`` checkpoint and the run folder it belongs to."""

    path: Path
    ckpt: Dict[str, Any]
    run_dir: Path


def resume_config(path: str, overrides: Dict[str, Any]) -> Tuple[TrainConfig, Resume]:
    """The run's saved config with the few options that may change on resume; the checkpoint must be
    our training checkpoint (``last.pt`` has the optimizer state, ``best.pt`` does not)."""
    ckpt = load_checkpoint(path)
    for key in ("config", "optimizer", "epoch"):
        if key not in ckpt:
            raise EdgeclassError(f"{path} has no training state ({key}); resume from runs/<name>/weights/last.pt")
    saved = TrainConfig.from_dict(ckpt["config"])
    values = saved.to_dict()
    values["stop_after"] = 0  # the stop asked for last time is not a property of the run
    for k, v in overrides.items():
        if v is None or v == values.get(k):
            continue
        if k not in RESUME_OVERRIDABLE:
            raise EdgeclassError(
                f"--{k.replace('_', '-')} cannot change when resuming (the run was trained with {values.get(k)!r}); "
                f"only {', '.join('--' + o.replace('_', '-') for o in RESUME_OVERRIDABLE if o != 'data')} and ROOT may"
            )
        values[k] = v
    cfg = TrainConfig.from_dict(values).validate()
    run_dir = Path(path).resolve().parent.parent
    manifest = run_dir / MANIFEST_NAME
    if not manifest.is_file():
        raise EdgeclassError(f"{manifest} is missing; --resume needs the run folder the checkpoint was written in")
    card_file = run_dir / "model_card.json"
    if card_file.is_file():
        here, there = ModelCard.load(card_file), card_of(ckpt)
        if (here.arch, here.classes) != (there.arch, there.classes):
            raise EdgeclassError(
                f"{path} ({there.arch}, {there.num_classes} classes) does not belong to the run in {run_dir} "
                f"({here.arch}, {here.num_classes} classes); resume from that run's own weights/last.pt"
            )
    cfg.manifest = str(manifest)  # resume on exactly the split the run started with
    return cfg, Resume(Path(path), ckpt, run_dir)


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

    # ---- data, card, model: everything that can fail, before anything is written
    data = resolve_data(cfg)
    card = make_card(cfg, data)
    start_epoch, best_top1, best_loss, best_epoch = 0, -1.0, math.inf, 0
    if resume is not None:
        saved_card = card_of(resume.ckpt)
        if saved_card.classes != card.classes or saved_card.arch != card.arch:
            raise EdgeclassError(
                f"{resume.path} was trained on {saved_card.arch} with classes {', '.join(saved_card.classes)}, "
                f"but the data now has {', '.join(card.classes)}"
            )
        card = saved_card
        model = build_model(card)
        load_weights_into(model, resume.ckpt, str(resume.path))
    else:
        model = build_model(card, weights=cfg.resolved_weights())
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    net = model.net
    groups = param_groups(net, cfg.lr, cfg.unfreeze_from, cfg.unfreeze_schedule, cfg.unfreeze_lr_decay)
    stages = parse_schedule(cfg.unfreeze_schedule) if cfg.unfreeze_schedule else None

    train_set = train_dataset(data, card.preprocess, Augment(kind=cfg.augment))
    val_set, test_set = eval_dataset(data, "val", card.preprocess), eval_dataset(data, "test", card.preprocess)
    workers = default_workers(cfg.workers, device)
    per_rank_batch = max(1, cfg.batch // info.world)
    sampler = torch.utils.data.DistributedSampler(train_set, num_replicas=info.world, rank=info.rank, shuffle=True, seed=cfg.seed)
    train_loader = make_loader(train_set, per_rank_batch, workers, device, shuffle_sampler=sampler)
    steps_per_epoch = len(train_loader)

    optimizer = build_optimizer(cfg, groups)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(cfg, steps_per_epoch))
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and cfg.amp)
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)

    if resume is not None:
        ck = resume.ckpt
        try:
            optimizer.load_state_dict(ck["optimizer"])
            if "scheduler" in ck:
                scheduler.load_state_dict(ck["scheduler"])
            if "scaler" in ck and scaler.is_enabled():
                scaler.load_state_dict(ck["scaler"])
        except (ValueError, KeyError, RuntimeError) as e:
            raise EdgeclassError(f"{resume.path}: optimizer state does not fit this run ({str(e).splitlines()[0][:160]})") from None
        scheduler.lr_lambdas = [lr_factor(cfg, steps_per_epoch)] * len(optimizer.param_groups)  # epochs may have changed
        start_epoch = int(ck["epoch"])
        best_top1 = float(ck.get("best_metric", -1.0))
        best_loss = float(ck.get("best_loss", math.inf))
        best_epoch = int(ck.get("best_epoch", start_epoch))
        if "rng" in ck:
            set_rng_state(ck["rng"])
        if start_epoch >= cfg.epochs:
            raise EdgeclassError(f"{resume.path} already finished {start_epoch} of {cfg.epochs} epochs; pass --epochs N (N > {start_epoch}) to train longer")

    # ---- the run folder (rank 0 writes; the others learn its path)
    if resume is not None:
        run_dir = resume.run_dir
        rows = [r for r in read_results(run_dir / "results.csv") if r["epoch"] <= start_epoch]
    else:
        run_dir = next_run_dir(cfg.project, cfg.name or cfg.arch, cfg.exist_ok).resolve() if info.is_main else None
        rows = []
    run_dir = Path(D.broadcast_object(info, str(run_dir)))
    weights_dir = run_dir / "weights"
    if info.is_main:
        write_run_files(run_dir, cfg, card, data, rows, resume is not None)
        card = ModelCard.load(run_dir / "model_card.json")
    D.barrier(info)
    if not info.is_main:
        card = ModelCard.load(run_dir / "model_card.json")

    trainable, total = trainable_count(net) if not stages else (None, None)
    log(
        f"{'resuming' if resume else 'training'} {cfg.arch} ({cfg.recipe}) on {len(train_set)} train / {len(val_set)} val / "
        f"{len(test_set)} test images of {card.num_classes} classes at {cfg.imgsz} px, {device.type}"
        + (f" x{info.world} processes" if info.enabled else "")
        + (f", {trainable:,} of {total:,} parameters trainable" if trainable is not None else f", unfreeze schedule {cfg.unfreeze_schedule}")
        + (f", from epoch {start_epoch + 1}" if resume else "")
        + f" -> {run_dir}"
    )

    # ---- epochs
    skipped_paths: set = set()  # unreadable images met in any split
    step_model: nn.Module = model  # what the training steps call (see train/frozen.py)
    ddp_model, trainable_before = None, None
    epoch = start_epoch
    for epoch in range(start_epoch, cfg.epochs):
        if stages:
            active = apply_schedule(net, stages, epoch)
            if epoch == start_epoch or any(s.epoch == epoch for s in stages):
                log(f"epoch {epoch + 1}: training {', '.join(active)}")
        trainable_now = tuple(p.requires_grad for p in net.parameters())
        if trainable_now != trainable_before:  # the frozen set changed: new fast forward, new DDP wrapper
            step_model = fast_frozen_forward(model) or model
            if info.enabled:  # DDP registers the trainable parameters once
                ddp_model = wrap_ddp(step_model, device)
            trainable_before = trainable_now
        sampler.set_epoch(epoch)
        stats = train_one_epoch(
            ddp_model or step_model, train_loader, criterion, optimizer, scheduler, device, scaler,
            _progress(info, f"epoch {epoch + 1}/{cfg.epochs}", steps_per_epoch),
        )
        val = evaluate_distributed(model, val_set, info, device, cfg.val_batch, workers, card.num_classes)
        loss_sum, correct, seen = D.sum_across(info, [stats.loss * stats.images, stats.acc * stats.images, stats.images], device)
        train_skipped = [i for part in D.gather_objects(info, stats.skipped) for i in part]
        skipped_paths.update(train_set.path(i) for i in train_skipped)
        skipped_paths.update(val_set.path(i) for i in val.skipped)
        row = {
            "epoch": epoch + 1,
            "train_loss": loss_sum / max(seen, 1),
            "train_acc": correct / max(seen, 1),
            "val_loss": val.loss,
            "val_acc": val.top1,
            "lr": optimizer.param_groups[0]["lr"],
            "seconds": stats.seconds,
            "images_per_s": seen / max(stats.seconds, 1e-9),
            "skipped": len(train_skipped) + len(val.skipped),
        }
        rows.append(row)
        improved = (val.top1, -val.loss) > (best_top1, -best_loss)
        if improved:
            best_top1, best_loss, best_epoch = val.top1, val.loss, epoch + 1
        if info.is_main:
            ckpt = make_checkpoint(
                model, card, epoch=epoch + 1, best_metric=best_top1, best_loss=best_loss, best_epoch=best_epoch,
                config=cfg.to_dict(),
            )
            if improved:
                save_checkpoint(weights_dir / "best.pt", ckpt)
            ckpt.update(optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(), rng=rng_state())
            if scaler.is_enabled():
                ckpt["scaler"] = scaler.state_dict()
            write_text_atomic(run_dir / "results.csv", format_results(rows))
            save_checkpoint(weights_dir / "last.pt", ckpt)
        log(
            f"epoch {epoch + 1}/{cfg.epochs}  train loss {row['train_loss']:.4f} acc {row['train_acc']:.2%}  "
            f"val loss {val.loss:.4f} acc {val.top1:.2%}  lr {row['lr']:.3g}  {stats.seconds:.1f}s "
            f"{row['images_per_s']:.1f} img/s" + ("  *best" if improved else "")
            + (f"  skipped {row['skipped']} unreadable" if row["skipped"] else "")
        )
        D.barrier(info)
        if cfg.patience and epoch + 1 - best_epoch >= cfg.patience and epoch + 1 < cfg.epochs:
            log(f"early stop: no better val top-1 for {cfg.patience} epochs (best {best_top1:.2%} at epoch {best_epoch})")
            break
        if cfg.stop_after and epoch + 1 - start_epoch >= cfg.stop_after and epoch + 1 < cfg.epochs:
            log(f"stopped after {cfg.stop_after} epochs as asked; carry on with: edgeclass train --resume {weights_dir / 'last.pt'}")
            return TrainResult(run_dir, epoch + 1, best_epoch, best_top1, None, sorted(skipped_paths))

    # ---- test the best weights
    best = load_checkpoint(weights_dir / "best.pt")
    load_weights_into(model, best, str(weights_dir / "best.pt"))
    test = evaluate_distributed(model, test_set, info, device, cfg.val_batch, workers, card.num_classes)
    skipped_paths.update(test_set.path(i) for i in test.skipped)
    report = classification_report(test.scores, test.labels, card.classes)
    if info.is_main:
        write_final_files(run_dir, rows, report, best_epoch, best_top1, sorted(skipped_paths))
    D.barrier(info)  # no rank tears the process group down while rank 0 is still writing
    log(f"test top-1 {report.top1:.2%} top-5 {report.top5:.2%} (best epoch {best_epoch}, val top-1 {best_top1:.2%}); run saved to {run_dir}")
    return TrainResult(run_dir, epoch + 1, best_epoch, best_top1, report, sorted(skipped_paths))


def wrap_ddp(model: nn.Module, device: torch.device) -> nn.Module:
    from torch.nn.parallel import DistributedDataParallel

    return DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)


def write_run_files(run_dir: Path, cfg: TrainConfig, card: ModelCard, data: Dataset, rows: Sequence[dict], resuming: bool) -> None:
    """config.json, splits.csv (the manifest used), model_card.json; on resume, results.csv cut back
    to the epochs the checkpoint holds (a kill between writing a row and the checkpoint)."""
    (run_dir / "weights").mkdir(parents=True, exist_ok=True)
    manifest = run_dir / MANIFEST_NAME
    if not resuming:
        if data.source == "manifest":  # a byte-for-byte copy, so its sha256 is the one in the card
            source = Path(cfg.manifest) if cfg.manifest else Path(cfg.data) / MANIFEST_NAME
            digest = data.manifest_sha256
            write_text_atomic(manifest, source.read_bytes().decode("utf-8"))
        else:
            digest = write_manifest(manifest, data.samples)
        if not card.provenance.get("manifest_sha256"):
            card.provenance["manifest_sha256"] = digest
        card.save(run_dir / "model_card.json")
    config = cfg.to_dict()
    config["data"] = str(Path(cfg.data).resolve())
    config["manifest"] = str(Path(cfg.manifest).resolve()) if cfg.manifest else (
        str((Path(cfg.data) / MANIFEST_NAME).resolve()) if data.source == "manifest" else str(manifest.resolve())
    )
    config["dataset_source"] = data.source
    write_json(run_dir / "config.json", config)
    write_text_atomic(run_dir / "results.csv", format_results(rows))


def write_final_files(run_dir: Path, rows: Sequence[dict], report: ClassificationReport, best_epoch: int, best_top1: float, skipped: List[str]) -> None:
    from ..plots import plot_confusion_matrix, plot_training_curves

    metrics = {"test": report.to_dict(), "best_epoch": best_epoch, "best_val_top1": best_top1, "skipped_images": skipped}
    metrics["test_top1"], metrics["test_top5"] = report.top1, report.top5
    write_json(run_dir / "metrics.json", metrics)
    plot_training_curves(rows, run_dir)
    plot_confusion_matrix(report.confusion, report.classes, run_dir / "confusion_matrix.png", f"test split, top-1 {report.top1:.2%}")
