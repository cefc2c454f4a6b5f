"""Multi-process training through ``torchrun`` (DistributedDataParallel).

``torchrun --nproc_per_node N -m edgeclass train ...`` sets RANK / WORLD_SIZE / LOCAL_RANK; a plain
``edgeclass train`` is a world of one and never touches ``torch.distributed``. Backend: NCCL on
CUDA, gloo on CPU. Only rank 0 writes files; every rank computes the same decisions (best epoch,
early stopping) from metrics gathered across ranks, so no rank waits for one that already stopped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, List

import torch
import torch.distributed as dist

from ..errors import EdgeclassError


@dataclass(frozen=True)
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1


def pick_device(requested: str, local_rank: int = 0) -> torch.device:
    """``auto``: CUDA when available, else CPU. ``cuda`` without a GPU is a one-line error."""
    if requested == "cpu":
        return torch.device("cpu")
    if requested == "auto" and not torch.cuda.is_available():
        return torch.device("cpu")
    if not torch.cuda.is_available():
        raise EdgeclassError(f"--device {requested}: no CUDA GPU is visible to PyTorch (use --device cpu)")
    if requested.startswith("cuda:"):
        return torch.device(requested)
    return torch.device("cuda", local_rank)


def init_distributed(requested_device: str) -> "tuple[DistInfo, torch.device]":
    """Join the process group when launched by torchrun (WORLD_SIZE > 1); returns (info, device)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return DistInfo(), pick_device(requested_device)
    info = DistInfo(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    device = pick_device(requested_device, info.local_rank)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return info, device


def shutdown(info: DistInfo) -> None:
    if info.enabled and dist.is_initialized():
        dist.destroy_process_group()


def broadcast_object(info: DistInfo, obj: Any) -> Any:
    """Rank 0's ``obj`` on every rank (e.g. the run folder rank 0 created)."""
    if not info.enabled:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def gather_objects(info: DistInfo, obj: Any) -> List[Any]:
    """Every rank's ``obj``, in rank order, on every rank."""
    if not info.enabled:
        return [obj]
    out: List[Any] = [None] * info.world
    dist.all_gather_object(out, obj)
    return out


def sum_across(info: DistInfo, values: List[float], device: torch.device) -> List[float]:
    """Element-wise sum of a few numbers over all ranks (loss sums, counts)."""
    if not info.enabled:
        return list(values)
    t = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(t)
    return t.tolist()


def barrier(info: DistInfo) -> None:
    if info.enabled:
        dist.barrier()
