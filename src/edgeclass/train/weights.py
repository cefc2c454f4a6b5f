"""Pretrained weights: ``--weights imagenet`` through torchvision's weights API, and what a weights
file a user gives is for.

ImageNet weights live in the torch hub cache (``torch.hub.get_dir()/checkpoints``: ``$TORCH_HOME/hub``,
default ``~/.cache/torch/hub``), under torchvision's own file names, which carry the first hex digits
of the file's sha256 (``resnet18-f37072fd.pth``). A missing file is downloaded once with a progress
bar (``torch.hub.download_url_to_file``: a temporary file next to the destination, renamed only when
complete and when its sha256 starts with the name's prefix; a failure or Ctrl+C removes it). Offline,
the error is one line naming the file, its URL and where to put it.

``EDGECLASS_WEIGHTS_MIRROR`` (a base URL) fetches the same file names from a mirror instead, e.g. a
company cache or a folder served on the local network; the hash check is the same.
"""

from __future__ import annotations

import http.client
import os
import re
import sys
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from ..errors import EdgeclassError
from ..spec import ModelCard, Preprocess
from .archs import ARCH_TABLE, Arch, arch_info

MIRROR_ENV = "EDGECLASS_WEIGHTS_MIRROR"
HASH_PREFIX = re.compile(r"-([a-f0-9]{6,})\.")  # torch.hub's convention: name-<sha256 prefix>.pth
INTERPOLATIONS = {"bilinear": "linear", "bicubic": "cubic", "nearest": "nearest"}


@dataclass(frozen=True)
class WeightsFile:
    """Where an architecture's ImageNet weights come from and where they go."""

    arch: str
    file_name: str
    url: str
    path: Path

    @property
    def hash_prefix(self) -> str:
        m = HASH_PREFIX.search(self.file_name)
        if not m:
            raise EdgeclassError(f"{self.file_name} carries no sha256 prefix in its name; cannot check a download of it")
        return m.group(1)


def hub_checkpoint_dir() -> Path:
    """``torch.hub.get_dir()/checkpoints`` (``$TORCH_HOME`` respected)."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def torchvision_weights(arch: Arch):
    """The torchvision weights enum member of ``arch`` (e.g. ``ResNet18_Weights.IMAGENET1K_V1``)."""
    if not arch.has_imagenet:
        raise EdgeclassError(f"there are no ImageNet weights for {arch.name}; use --weights none")
    import torchvision.models as tvm

    return getattr(getattr(tvm, arch.weights_enum), arch.weights_member)


def imagenet_weights_file(arch_name: str, mirror: Optional[str] = None, folder: Optional[Path] = None) -> WeightsFile:
    """The ImageNet weights of ``arch_name``: torchvision's URL (or ``mirror``/name, default
    ``$EDGECLASS_WEIGHTS_MIRROR``) and the path in the hub cache (or ``folder``)."""
    url = torchvision_weights(arch_info(arch_name)).url
    name = url.rsplit("/", 1)[-1]
    mirror = mirror if mirror is not None else os.environ.get(MIRROR_ENV, "")
    if mirror:
        url = mirror.rstrip("/") + "/" + name
    return WeightsFile(arch_name, name, url, Path(folder) if folder else hub_checkpoint_dir() / name)


def download_weights(wf: WeightsFile, progress: bool = True) -> Path:
    """``wf.url`` -> ``wf.path``, sha256-checked; nothing is left behind unless the whole file arrived."""
    where = f"put that file at {wf.path} (or pass --weights PATH)"
    wf.path.parent.mkdir(parents=True, exist_ok=True)
    try:
        torch.hub.download_url_to_file(wf.url, str(wf.path), hash_prefix=wf.hash_prefix, progress=progress)
    except urllib.error.HTTPError as e:
        raise EdgeclassError(f"cannot download {wf.file_name} from {wf.url} (HTTP {e.code} {e.reason}); {where}") from None
    except urllib.error.URLError as e:
        raise EdgeclassError(f"cannot download {wf.file_name} from {wf.url} ({e.reason}); offline, {where}") from None
    except RuntimeError as e:  # torch.hub's hash check (a transfer cut half-way ends here too)
        if "hash" not in str(e):
            raise
        raise EdgeclassError(
            f"{wf.file_name} from {wf.url} is incomplete or corrupt (its sha256 does not start with {wf.hash_prefix}); "
            f"nothing was saved; try again, or {where}"
        ) from None
    except (http.client.HTTPException, OSError) as e:
        raise EdgeclassError(f"download of {wf.file_name} from {wf.url} failed ({type(e).__name__}: {e}); nothing was saved; {where}") from None
    return wf.path


def imagenet_weights_path(arch_name: str, download: bool = True, progress: Optional[bool] = None) -> Path:
    """The cached ImageNet weights of ``arch_name``, downloaded first when missing (``download``); the
    progress bar shows on a terminal (``progress`` None), not in logs."""
    wf = imagenet_weights_file(arch_name)
    if wf.path.is_file():
        return wf.path
    if not download:
        raise EdgeclassError(f"ImageNet weights for {arch_name} not found at {wf.path}; download {wf.url} to that path (or pass --weights PATH)")
    return download_weights(wf, sys.stderr.isatty() if progress is None else progress)


def imagenet_preprocess(arch_name: str, imgsz: Optional[int] = None) -> Preprocess:
    """The weights' own eval transform (resize, crop, mean, std, interpolation from
    ``weights.transforms()``), at ``imgsz`` by ``Preprocess.at_size`` (resize scales with the crop)."""
    t = torchvision_weights(arch_info(arch_name)).transforms()
    interp = INTERPOLATIONS.get(str(t.interpolation.value).lower(), "linear")
    pp = Preprocess(imgsz=int(t.crop_size[0]), resize=int(t.resize_size[0]), interpolation=interp,
                    mean=tuple(float(v) for v in t.mean), std=tuple(float(v) for v in t.std)).validate()
    return pp if imgsz is None else pp.at_size(imgsz)


# --------------------------------------------------------------------------- what a weights file is for


def state_signature(net: torch.nn.Module, head: str) -> Tuple[Dict[str, Tuple[int, ...]], Dict[str, Tuple[int, ...]]]:
    """(backbone tensor shapes, head tensor shapes) of ``net``'s state dict by name (BatchNorm
    counters left out)."""
    body, top = {}, {}
    for k, v in net.state_dict().items():
        if k.endswith("num_batches_tracked"):
            continue
        (top if k == head or k.startswith(head + ".") else body)[k] = tuple(v.shape)
    return body, top


def _fits(state: Dict[str, torch.Tensor], body: Dict[str, Tuple[int, ...]]) -> List[str]:
    """Backbone tensors of ``body`` that ``state`` lacks or has in another shape."""
    return [k for k, shape in body.items() if k not in state or tuple(state[k].shape) != shape]


def matching_archs(state: Dict[str, torch.Tensor], build_shapes_only: Callable[[str, int, int], Any]) -> List[Tuple[str, Optional[int]]]:
    """(arch, classes of the state's head or None) of every architecture whose backbone ``state`` fits
    (``build_shapes_only``: ``models.build_shapes_only``, passed in so this module never imports models)."""
    out = []
    for name, arch in ARCH_TABLE.items():
        body, _ = state_signature(build_shapes_only(name, 2, arch.default_imgsz), arch.head)
        if not _fits(state, body):
            w = state.get(arch.head + ".weight")
            out.append((name, int(w.shape[0]) if isinstance(w, torch.Tensor) and w.dim() == 2 else None))
    return out


def describe_state(state: Dict[str, torch.Tensor], build_shapes_only: Callable[[str, int, int], Any]) -> str:
    """What a bare state dict is for, in words: ``resnet50 weights with a 1000-class head``."""
    found = matching_archs(state, build_shapes_only)
    if not found:
        return "weights of no architecture edgeclass builds"
    return " or ".join(f"{a} weights" + (f" with a {n}-class head" if n else "") for a, n in found)


def card_summary(card: ModelCard) -> str:
    shown = ", ".join(card.classes[:5]) + (", ..." if card.num_classes > 5 else "")
    return f"an edgeclass {card.arch} checkpoint with {card.num_classes} classes ({shown})"
