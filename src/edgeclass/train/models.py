"""Model zoo: the original small CNN baseline and torchvision ResNet-18..152 with an N-class head.

Every model is wrapped in ``EdgeClassifier``, which holds the mean/std normalisation, so all
artifacts take float32 RGB in [0, 1]. The wrapped network keeps torchvision's parameter names
(``model.net.layer4.0.conv1.weight``), and checkpoints store ``model.net.state_dict()``: the weights
load into a plain torchvision model too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Sequence

import torch
from torch import nn

from ..errors import EdgeclassError
from ..spec import ModelCard

from .config import ARCHS, RESNETS  # noqa: F401  (the names live with the config: no torch needed to list them)


class SimpleCNN(nn.Module):
    """The original report's baseline: two 3x3 conv layers, two 2x2 max-pools, ReLU, a linear head."""

    def __init__(self, num_classes: int, imgsz: int, width: int = 32):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
        )
        side = imgsz // 4
        self.fc = nn.Linear(2 * width * side * side, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.features(x), 1))


class EdgeClassifier(nn.Module):
    """``net`` preceded by the normalisation: input float32 NCHW RGB in [0, 1] -> logits."""

    def __init__(self, net: nn.Module, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.net = net
        self.register_buffer("mean", torch.tensor(list(mean), dtype=torch.float32).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(list(std), dtype=torch.float32).view(1, 3, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net((x - self.mean.to(x.dtype)) / self.std.to(x.dtype))


def imagenet_weights_info(arch: str):
    """(file name, download URL) of torchvision's ImageNet weights for ``arch``."""
    import torchvision.models as tvm

    enum = {
        "resnet18": tvm.ResNet18_Weights,
        "resnet34": tvm.ResNet34_Weights,
        "resnet50": tvm.ResNet50_Weights,
        "resnet101": tvm.ResNet101_Weights,
        "resnet152": tvm.ResNet152_Weights,
    }[arch]
    url = enum.IMAGENET1K_V1.url
    return url.rsplit("/", 1)[-1], url


def hub_checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def _load_state_file(path: Path) -> Dict[str, torch.Tensor]:
    from ..artifacts.checkpoint import load_weights_only

    obj = load_weights_only(path)
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        obj = obj["model"]  # an edgeclass checkpoint
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise EdgeclassError(f"{path} is not a state dict of tensors")
    return obj


def resolve_pretrained(arch: str, weights: str) -> Optional[Dict[str, torch.Tensor]]:
    """State dict for ``--weights imagenet|none|PATH`` (never downloads anything)."""
    if weights in ("none", "", None):
        return None
    if weights == "imagenet":
        if arch not in RESNETS:
            raise EdgeclassError(f"there are no ImageNet weights for {arch}; use --weights none")
        fname, url = imagenet_weights_info(arch)
        path = hub_checkpoint_dir() / fname
        if not path.is_file():
            raise EdgeclassError(
                f"ImageNet weights for {arch} not found at {path}; download {url} to that path (or pass --weights PATH)"
            )
        return _load_state_file(path)
    path = Path(weights)
    if not path.is_file():
        raise EdgeclassError(f"weights file {path} does not exist (use --weights imagenet, none or a .pth/.pt file)")
    return _load_state_file(path)


def build_network(arch: str, num_classes: int, imgsz: int = 224, weights: str = "none") -> nn.Module:
    """The bare network (no normalisation) with an ``num_classes`` head; pretrained weights are
    loaded into everything but the head when the head's shape differs."""
    if arch not in ARCHS:
        raise EdgeclassError(f"unknown arch {arch!r} (choose from {', '.join(ARCHS)})")
    if arch == "simplecnn":
        net: nn.Module = SimpleCNN(num_classes, imgsz)
    else:
        import torchvision.models as tvm

        net = getattr(tvm, arch)(weights=None)
        net.fc = nn.Linear(net.fc.in_features, num_classes)
    load_pretrained(net, arch, weights)
    return net


def load_pretrained(net: nn.Module, arch: str, weights: str) -> int:
    """Load ``--weights imagenet|none|PATH`` into everything but the head; returns tensors loaded.

    Stricter than "load whatever fits": every backbone tensor must be there with its shape, so a
    checkpoint of another architecture is an error instead of a silently random network."""
    state = resolve_pretrained(arch, weights)
    if state is None:
        return 0
    own = net.state_dict()
    body = [k for k in own if not k.startswith("fc.") and not k.endswith("num_batches_tracked")]
    missing = [k for k in body if k not in state or tuple(state[k].shape) != tuple(own[k].shape)]
    if missing:
        raise EdgeclassError(
            f"weights {weights} do not fit {arch}: {len(missing)} of {len(body)} backbone tensors are missing or of "
            f"another shape (first: {missing[0]}); is it a checkpoint of another architecture?"
        )
    usable = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    net.load_state_dict(usable, strict=False)
    return len(usable)


def build_model(card: ModelCard, weights: str = "none") -> EdgeClassifier:
    pp = card.preprocess
    return EdgeClassifier(build_network(card.arch, card.num_classes, pp.imgsz, weights), pp.mean, pp.std)
