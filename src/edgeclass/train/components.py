"""What a training run is built from, before anything is written: data, card, model, loaders,
optimizer, learning-rate schedule, AMP scaler and loss (``build_components``).

Everything here can fail with a one-line error; the run folder is only created once it all stands.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, List, Optional

import torch
from torch import nn

from .. import __version__
from ..data.datasets import Augment, ImageDataset, eval_dataset, train_dataset
from ..data.load import load_dataset
from ..data.manifest import Dataset
from ..spec import ModelCard, Preprocess
from . import distributed as D
from .checkpoint import load_weights_into
from .config import TrainConfig
from .freeze import param_groups, parse_schedule
from .models import EdgeClassifier, build_model
from .state import Progress, Resume, check_resume_fits, restore_training_state


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
    busy; see docs/training.md, Speed); on CUDA, where decoding must keep up with the GPU, up to 8."""
    if requested >= 0:
        return requested
    if device.type != "cuda":
        return 0
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


def resolve_data(cfg: TrainConfig) -> Dataset:
    return load_dataset(cfg.data, manifest=cfg.manifest, ratios=cfg.ratios, seed=cfg.seed)


def card_preprocess(cfg: TrainConfig) -> Preprocess:
    """ImageNet weights bring their own eval transform (resize, crop, mean, std, interpolation), at
    ``--imgsz`` by ``Preprocess.at_size``; otherwise the standard one at ``--imgsz``. ``--crop-ratio``
    sets crop / resize (1.0: the whole image is resized to the input, nothing cut off)."""
    if cfg.resolved_weights() == "imagenet":
        from .weights import imagenet_preprocess

        pp = imagenet_preprocess(cfg.arch, cfg.imgsz)
    else:
        pp = Preprocess.for_size(cfg.imgsz)
    if cfg.crop_ratio is not None:  # e.g. 1.0 for aligned face crops: resize to the input size, cut nothing off
        pp = pp.at_size(cfg.imgsz, resize=max(cfg.imgsz, int(round(cfg.imgsz / cfg.crop_ratio))))
    return pp


def make_card(cfg: TrainConfig, data: Dataset) -> ModelCard:
    return ModelCard(
        classes=list(data.classes),
        arch=cfg.arch,
        preprocess=card_preprocess(cfg),
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


@dataclass
class Components:
    data: Dataset
    card: ModelCard
    model: EdgeClassifier
    stages: Optional[list]  # the unfreeze schedule, None without one
    train_set: ImageDataset
    val_set: ImageDataset
    test_set: ImageDataset
    sampler: Any  # DistributedSampler (also for one process: it shuffles per epoch by seed)
    train_loader: torch.utils.data.DataLoader
    workers: int
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    scaler: torch.amp.GradScaler
    criterion: nn.Module
    progress: Progress

    @property
    def steps_per_epoch(self) -> int:
        return len(self.train_loader)


def build_components(cfg: TrainConfig, resume: Optional[Resume], info: D.DistInfo, device: torch.device) -> Components:
    """Everything a run needs, fresh or restored from ``resume`` (weights, optimizer, schedule,
    scaler, RNG and progress)."""
    data = resolve_data(cfg)
    card = make_card(cfg, data)
    if resume is not None:
        card = check_resume_fits(resume, card)
        model = build_model(card)
        load_weights_into(model, resume.ckpt, str(resume.path))
    else:
        model = build_model(card, weights=cfg.resolved_weights())
    model.to(device)
    if device.type == "cuda":
        model.to(memory_format=torch.channels_last)
    groups = param_groups(model.net, cfg.lr, cfg.unfreeze_from, cfg.unfreeze_schedule, cfg.unfreeze_lr_decay, cfg.arch)
    stages = parse_schedule(cfg.unfreeze_schedule, cfg.arch) if cfg.unfreeze_schedule else None

    train_set = train_dataset(data, card.preprocess, Augment.preset(cfg.augment))
    val_set, test_set = eval_dataset(data, "val", card.preprocess), eval_dataset(data, "test", card.preprocess)
    workers = default_workers(cfg.workers, device)
    sampler = torch.utils.data.DistributedSampler(train_set, num_replicas=info.world, rank=info.rank, shuffle=True, seed=cfg.seed)
    train_loader = make_loader(train_set, max(1, cfg.batch // info.world), workers, device, shuffle_sampler=sampler)

    optimizer = build_optimizer(cfg, groups)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_factor(cfg, len(train_loader)))
    scaler = torch.amp.GradScaler("cuda", enabled=device.type == "cuda" and cfg.amp)
    progress = Progress()
    if resume is not None:
        restore_training_state(resume.ckpt, resume.path, optimizer, scheduler, scaler)
        scheduler.lr_lambdas = [lr_factor(cfg, len(train_loader))] * len(optimizer.param_groups)  # epochs may have changed
        progress = Progress.from_checkpoint(resume.ckpt)
    criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
    return Components(data, card, model, stages, train_set, val_set, test_set, sampler, train_loader, workers,
                      optimizer, scheduler, scaler, criterion, progress)
