"""Training-time speed-up for frozen ResNet stages.

With ``--unfreeze-from layer4.0.conv1`` (the original recipe) the stem and layer1-3 are frozen: no
gradients, BatchNorm in eval mode. Their forward pass still runs every step, and on a CPU it is most
of the step (layer1-3 are ~85% of ResNet-18's forward time at 224 px). Frozen, those stages are pure
inference, so they can run the way inference runs: BatchNorm folded into the convolutions, channels_last
memory format, no autograd. ``FastFrozenForward`` does that on a copy of the frozen stages and runs the
trainable rest as usual. It computes the same function (up to float rounding); the trained parameters
and the checkpoint are the model's own, and exports never see this wrapper.
"""

from __future__ import annotations

import copy
from typing import List, Optional

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .models import EdgeClassifier

STEM = ("conv1", "bn1")
STAGES = ("layer1", "layer2", "layer3", "layer4")


def _is_resnet(net: nn.Module) -> bool:
    return all(hasattr(net, n) for n in STEM + STAGES + ("fc", "avgpool", "maxpool", "relu"))


def _frozen(module: nn.Module) -> bool:
    return not any(p.requires_grad for p in module.parameters())


def frozen_stages(net: nn.Module) -> List[str]:
    """Leading ResNet stages with no trainable parameter: "stem", then "layer1", ... in order."""
    if not _is_resnet(net) or not (_frozen(net.conv1) and _frozen(net.bn1)):
        return []
    out = ["stem"]
    for name in STAGES:
        if not _frozen(getattr(net, name)):
            break
        out.append(name)
    return out


def _fold_block(block: nn.Module) -> nn.Module:
    """A torchvision BasicBlock/Bottleneck with each conv+bn pair folded into one conv."""
    block = copy.deepcopy(block).eval()
    for i in (1, 2, 3):
        conv, bn = getattr(block, f"conv{i}", None), getattr(block, f"bn{i}", None)
        if conv is not None and bn is not None:
            setattr(block, f"conv{i}", fuse_conv_bn_eval(conv, bn))
            setattr(block, f"bn{i}", nn.Identity())
    if block.downsample is not None and len(block.downsample) == 2:
        block.downsample = nn.Sequential(fuse_conv_bn_eval(block.downsample[0], block.downsample[1]))
    return block


def folded_prefix(net: nn.Module, stages: List[str]) -> nn.Sequential:
    """The frozen stages as one inference module: BatchNorm folded, channels_last, no gradients."""
    parts: List[nn.Module] = [fuse_conv_bn_eval(copy.deepcopy(net.conv1).eval(), copy.deepcopy(net.bn1).eval()),
                              copy.deepcopy(net.relu), copy.deepcopy(net.maxpool)]
    for name in stages[1:]:
        parts.extend(_fold_block(b) for b in getattr(net, name))
    prefix = nn.Sequential(*parts).eval().to(memory_format=torch.channels_last)
    for p in prefix.parameters():
        p.requires_grad_(False)
    return prefix


class FastFrozenForward(nn.Module):
    """``model``'s forward with its frozen leading stages run as a folded inference copy."""

    def __init__(self, model: EdgeClassifier, stages: List[str]):
        super().__init__()
        self.model = model
        net = model.net
        self.stages = list(stages)
        self.rest = [name for name in STAGES if name not in stages]
        self.prefix = folded_prefix(net, stages).to(next(net.parameters()).device)

    def train(self, mode: bool = True) -> "FastFrozenForward":
        super().train(mode)
        self.prefix.eval()  # pure inference, whatever the wrapper's mode
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        model, net = self.model, self.model.net
        x = (x - model.mean.to(x.dtype)) / model.std.to(x.dtype)
        with torch.no_grad():
            h = self.prefix(x.contiguous(memory_format=torch.channels_last))
        h = h.contiguous(memory_format=torch.channels_last if x.is_cuda else torch.contiguous_format)
        for name in self.rest:
            h = getattr(net, name)(h)
        return net.fc(torch.flatten(net.avgpool(h), 1))


def fast_frozen_forward(model: EdgeClassifier) -> Optional[FastFrozenForward]:
    """The fast training forward for ``model`` as frozen now, or None when nothing is frozen at the front
    (or the network is not a torchvision ResNet)."""
    stages = frozen_stages(model.net)
    return FastFrozenForward(model, stages) if stages else None
