"""Training state that outlives one process: RNG states, the best-so-far record, and ``--resume``.

A training checkpoint (``weights/last.pt``) holds, beside the weights and card, everything needed
to carry on as if never stopped: optimizer, schedule, AMP scaler, epoch, best metric, RNG states
and the unreadable images met so far (all ``torch.load(weights_only=True)`` loadable).
``resume_config`` validates a checkpoint and the run folder before anything is written, so a resume
that fails leaves the run as it was. ``final_phase_pending`` tells a resume of a run whose epochs are
all trained, but whose final phase (test evaluation, plots, ``metrics.json``) was cut off, to do
just that phase.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch

from ..errors import EdgeclassError
from ..runs import Run
from ..spec import ModelCard
from .checkpoint import card_of, load_checkpoint, make_checkpoint
from .config import TrainConfig

# Options that may change when resuming; everything else comes from the checkpoint's config.
RESUME_OVERRIDABLE = ("data", "epochs", "patience", "device", "workers", "stop_after", "amp", "val_batch")


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


@dataclass
class Progress:
    """Where a run stands: epochs done and the best validation result so far."""

    epoch: int = 0  # epochs completed
    best_top1: float = -1.0
    best_loss: float = math.inf
    best_epoch: int = 0
    skipped: List[str] = field(default_factory=list)  # unreadable images met by the loaders (paths)

    def stopped_early(self, patience: int) -> bool:
        """The early-stopping rule fired after the last epoch done (no better val top-1 for ``patience``)."""
        return patience > 0 and self.epoch - self.best_epoch >= patience

    def record(self, epoch: int, val_top1: float, val_loss: float) -> bool:
        """Epoch ``epoch`` (1-based) finished with this validation; True when it is the new best
        (higher top-1, ties broken by lower loss)."""
        self.epoch = epoch
        improved = (val_top1, -val_loss) > (self.best_top1, -self.best_loss)
        if improved:
            self.best_top1, self.best_loss, self.best_epoch = val_top1, val_loss, epoch
        return improved

    @classmethod
    def from_checkpoint(cls, ckpt: Dict[str, Any]) -> "Progress":
        epoch = int(ckpt["epoch"])
        return cls(epoch, float(ckpt.get("best_metric", -1.0)), float(ckpt.get("best_loss", math.inf)),
                   int(ckpt.get("best_epoch", epoch)), [str(p) for p in ckpt.get("skipped_images", [])])


def training_checkpoint(model, card: ModelCard, progress: Progress, cfg: TrainConfig) -> Dict[str, Any]:
    """The weights checkpoint of the epoch just done (``best.pt``); ``with_training_state`` adds what
    ``last.pt`` needs to resume."""
    return make_checkpoint(
        model, card, epoch=progress.epoch, best_metric=progress.best_top1, best_loss=progress.best_loss,
        best_epoch=progress.best_epoch, config=cfg.to_dict(), skipped_images=sorted(progress.skipped),
    )


def with_training_state(ckpt: Dict[str, Any], optimizer, scheduler, scaler) -> Dict[str, Any]:
    ckpt.update(optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(), rng=rng_state())
    if scaler.is_enabled():
        ckpt["scaler"] = scaler.state_dict()
    return ckpt


def restore_training_state(ckpt: Dict[str, Any], source: Path, optimizer, scheduler, scaler) -> None:
    """Optimizer, schedule, scaler and RNG states of a ``last.pt``, or a one-line error when they do
    not fit this run."""
    try:
        optimizer.load_state_dict(ckpt["optimizer"])
        if "scheduler" in ckpt:
            scheduler.load_state_dict(ckpt["scheduler"])
        if "scaler" in ckpt and scaler.is_enabled():
            scaler.load_state_dict(ckpt["scaler"])
    except (ValueError, KeyError, RuntimeError) as e:
        raise EdgeclassError(f"{source}: optimizer state does not fit this run ({str(e).splitlines()[0][:160]})") from None
    if "rng" in ckpt:
        set_rng_state(ckpt["rng"])


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
    run = Run.find(Path(path).resolve())
    run_dir, manifest, card_file = run.root, run.manifest, run.card
    if not manifest.is_file():
        raise EdgeclassError(f"{manifest} is missing; --resume needs the run folder the checkpoint was written in")
    if card_file.is_file():
        here, there = ModelCard.load(card_file), card_of(ckpt)
        if (here.arch, here.classes) != (there.arch, there.classes):
            raise EdgeclassError(
                f"{path} ({there.arch}, {there.num_classes} classes) does not belong to the run in {run_dir} "
                f"({here.arch}, {here.num_classes} classes); resume from that run's own weights/last.pt"
            )
    cfg.manifest = str(manifest)  # resume on exactly the split the run started with
    return cfg, Resume(Path(path), ckpt, run_dir)


def check_resume_fits(resume: Resume, card: ModelCard) -> ModelCard:
    """The checkpoint's card, when its arch and classes are those of the data now."""
    saved = card_of(resume.ckpt)
    if saved.classes != card.classes or saved.arch != card.arch:
        raise EdgeclassError(
            f"{resume.path} was trained on {saved.arch} with classes {', '.join(saved.classes)}, "
            f"but the data now has {', '.join(card.classes)}"
        )
    return saved


def final_files_written(metrics: Path, epochs_done: int) -> bool:
    """metrics.json (written last, atomically) is there and belongs to these epochs."""
    try:
        m = json.loads(Path(metrics).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(m, dict) and m.get("epochs_done") == epochs_done


def final_phase_pending(resume: Optional[Resume], progress: Progress, cfg: TrainConfig) -> bool:
    """True when a resumed run has trained all its epochs (or stopped early) but its final phase never
    finished: the resume then only tests best.pt and writes the plots and metrics.json. A run that
    is complete is a one-line error that says how to train longer."""
    if resume is None:
        return False
    early = progress.stopped_early(cfg.patience)
    if progress.epoch < cfg.epochs and not early:
        return False
    if not final_files_written(Run.at(resume.run_dir).metrics, progress.epoch):
        return True
    if early and progress.epoch < cfg.epochs:
        raise EdgeclassError(
            f"{resume.path} stopped early after {progress.epoch} epochs (no better val top-1 for {cfg.patience} epochs since "
            f"epoch {progress.best_epoch}); pass --patience 0 (or more than {progress.epoch - progress.best_epoch}) to train on"
        )
    raise EdgeclassError(
        f"{resume.path} already finished {progress.epoch} of {cfg.epochs} epochs; pass --epochs N (N > {progress.epoch}) to train longer"
    )
