"""Model zoo: the original small CNN baseline and the torchvision networks of ``archs.ARCH_TABLE``
(ResNet, MobileNetV3, EfficientNet, RegNet, ConvNeXt), each with an N-class head.

Every model is wrapped in ``EdgeClassifier``, which holds the mean/std normalisation, so all
artifacts take float32 RGB in [0, 1]. The wrapped network keeps torchvision's parameter names
(``model.net.layer4.0.conv1.weight``), and checkpoints store ``model.net.state_dict()``: the weights
load into a plain torchvision model too.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Sequence, Tuple

import torch
from torch import nn

from ..errors import EdgeclassError
from ..spec import ModelCard

from .archs import arch_info


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


def set_module(net: nn.Module, path: str, module: nn.Module) -> None:
    """Put ``module`` at the attribute path ``path`` (``classifier.3``) of ``net``."""
    parent, _, leaf = path.rpartition(".")
    setattr(net.get_submodule(parent) if parent else net, leaf, module)


def head_of(net: nn.Module, arch: str) -> nn.Module:
    """The classification head of ``net`` (the module at the table's head path)."""
    return net.get_submodule(arch_info(arch).head)


def build_network(arch: str, num_classes: int, imgsz: int = 224, weights: str = "none") -> nn.Module:
    """The bare network (no normalisation): torchvision's (or SimpleCNN) with the module at the
    architecture's head path replaced by ``nn.Linear(feature_dim, num_classes)``; every other
    parameter keeps torchvision's name. ``weights`` (imagenet | none | PATH) is loaded into everything
    but the head (the head too when its shape fits)."""
    info = arch_info(arch)
    if info.builder is None:
        net: nn.Module = SimpleCNN(num_classes, imgsz)
    else:
        import torchvision.models as tvm

        net = getattr(tvm, info.builder)(weights=None)
        old = net.get_submodule(info.head)
        set_module(net, info.head, nn.Linear(old.in_features, num_classes))
        if info.bn_momentum is not None:  # see archs.py: MobileNetV3's 0.01 does not settle in a short run
            for m in net.modules():
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    m.momentum = info.bn_momentum
    load_pretrained(net, arch, weights)
    return net


def read_weights(path: Path) -> Tuple[Dict[str, torch.Tensor], Optional[ModelCard]]:
    """(state dict, model card or None) of a ``.pth`` state dict or one of our ``.pt`` checkpoints."""
    from ..artifacts.checkpoint import load_weights_only

    obj = load_weights_only(path)
    card = None
    if isinstance(obj, dict) and "model" in obj and isinstance(obj["model"], dict):
        card = ModelCard.from_json(obj["card"]) if isinstance(obj.get("card"), str) else None
        obj = obj["model"]  # an edgeclass checkpoint
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise EdgeclassError(f"{path} is not a state dict of tensors")
    return obj, card


def resolve_pretrained(arch: str, weights: str) -> Optional[Dict[str, torch.Tensor]]:
    """State dict for ``--weights imagenet|none|PATH``: ImageNet weights come from the torch hub
    cache, downloaded there first when missing. Weights of an edgeclass checkpoint of another
    architecture are refused, naming what they are for."""
    if weights in ("none", "", None):
        return None
    if weights == "imagenet":
        from .weights import imagenet_weights_path

        return read_weights(imagenet_weights_path(arch))[0]
    path = Path(weights)
    if not path.is_file():
        raise EdgeclassError(f"weights file {path} does not exist (use --weights imagenet, none or a .pth/.pt file)")
    state, card = read_weights(path)
    if card is not None and card.arch != arch:
        from .weights import card_summary

        raise EdgeclassError(f"{path} is {card_summary(card)}, not {arch}; train with --arch {card.arch} or give {arch} weights")
    return state


def load_pretrained(net: nn.Module, arch: str, weights: str) -> int:
    """Load ``--weights imagenet|none|PATH`` into everything but the head; returns tensors loaded.

    Stricter than "load whatever fits": every backbone tensor must be there with its shape, so a
    checkpoint of another architecture is an error (saying which architecture it is for) instead of
    a silently random network. The head is loaded too when its shape fits."""
    state = resolve_pretrained(arch, weights)
    if state is None:
        return 0
    from .weights import describe_state, state_signature

    body, _ = state_signature(net, arch_info(arch).head)
    own = net.state_dict()
    missing = [k for k, shape in body.items() if k not in state or tuple(state[k].shape) != shape]
    if missing:
        raise EdgeclassError(
            f"weights {weights} do not fit {arch}: they are {describe_state(state, build_shapes_only)} ({len(missing)} of {len(body)} "
            f"backbone tensors of {arch} are missing or of another shape, first: {missing[0]})"
        )
    usable = {k: v for k, v in state.items() if k in own and tuple(v.shape) == tuple(own[k].shape)}
    net.load_state_dict(usable, strict=False)
    return len(usable)


def build_model(card: ModelCard, weights: str = "none") -> EdgeClassifier:
    pp = card.preprocess
    return EdgeClassifier(build_network(card.arch, card.num_classes, pp.imgsz, weights), pp.mean, pp.std)


def build_shapes_only(arch: str, num_classes: int, imgsz: int = 224) -> nn.Module:
    """``build_network`` on the meta device: shapes without memory or init (RegNet, whose constructor
    reads tensor values, is built on the CPU)."""
    try:
        with torch.device("meta"):
            return build_network(arch, num_classes, imgsz)
    except NotImplementedError:
        return build_network(arch, num_classes, imgsz)


def complexity(arch: str, imgsz: int = 224, num_classes: int = 10) -> Tuple[int, float]:
    """(parameters, GFLOPs of one forward pass at ``imgsz``) of ``arch`` with a ``num_classes`` head, as
    ``archs.ARCH_TABLE`` lists them (FLOPs by ``torch.utils.flop_counter``: two per multiply-add)."""
    from torch.utils.flop_counter import FlopCounterMode

    net = build_shapes_only(arch, num_classes, imgsz).eval()
    x = torch.zeros(1, 3, imgsz, imgsz, device=next(net.parameters()).device)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(x)
    return sum(p.numel() for p in net.parameters()), counter.get_total_flops() / 1e9
