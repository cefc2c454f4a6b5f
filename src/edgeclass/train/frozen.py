"""Training-time speed-up for frozen leading stages, for every architecture in ``archs.ARCH_TABLE``.

With ``--unfreeze-from layer4.0.conv1`` (the original recipe) the stem and layer1-3 are frozen: no
gradients, BatchNorm in eval mode. Their forward pass still runs every step, and on a CPU it is most
of the step (layer1-3 are ~85% of ResNet-18's forward time at 224 px). Frozen, those stages are pure
inference, so they can run the way inference runs: BatchNorm folded into the convolutions, channels_last
memory format, no autograd. ``FastFrozenForward`` runs the network's own ``forward`` on a shallow copy
of it in which the modules of the frozen leading stages (the architecture's freeze points) are
replaced by folded inference copies; every other module is the model's own, shared. It computes the
same function (up to float rounding; frozen stages run in eval mode, so EfficientNet's stochastic
depth does not drop blocks there); the trained parameters and the checkpoint are the model's own,
and exports never see this wrapper. Convolutions are folded with the BatchNorm that follows them (in a
``Sequential``, or ``convN``/``bnN`` siblings as in ResNet); ConvNeXt has no BatchNorm, so there only
channels_last and the missing autograd remain.
"""

from __future__ import annotations

import copy
from typing import List, Optional, Sequence

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .archs import arch_info
from .freeze import _matches
from .models import EdgeClassifier


def stage_params(net: nn.Module, arch: str) -> List[List[str]]:
    """Parameter names of each freeze point of ``arch`` but the head: from the first parameter of that
    point up to the first of the next one (ResNet's ``conv1`` stage holds conv1 and bn1)."""
    names = [n for n, _ in net.named_parameters()]
    info = arch_info(arch)
    points = info.stage_names
    starts = [next((i for i, n in enumerate(names) if _matches(n, p)), None) for p in points]
    out = []
    for k, point in enumerate(points[:-1]):
        if starts[k] is None or starts[k + 1] is None:
            break
        out.append(names[starts[k]:starts[k + 1]])
    return out


def frozen_stages(net: nn.Module, arch: str) -> List[str]:
    """The leading freeze points of ``arch`` whose parameters are all frozen, in forward order."""
    trainable = {n for n, p in net.named_parameters() if p.requires_grad}
    out = []
    for point, params in zip(arch_info(arch).stage_names, stage_params(net, arch)):
        if not params or any(n in trainable for n in params):
            break
        out.append(point)
    return out


def stage_modules(net: nn.Module, arch: str, stages: Sequence[str]) -> List[str]:
    """Module paths that hold the parameters of ``stages`` (at each freeze point's depth), forward order."""
    by_point = dict(zip(arch_info(arch).stage_names, stage_params(net, arch)))
    paths: List[str] = []
    for point in stages:
        depth = point.count(".") + 1
        for n in by_point[point]:
            path = ".".join(n.split(".")[:depth])
            if path not in paths:
                paths.append(path)
    return paths


def _partner(parent: nn.Module, names: List[str], i: int) -> Optional[str]:
    """The child that follows the conv ``names[i]`` of ``parent``: the next child of a Sequential,
    else the sibling ``bnK`` of ``convK`` (torchvision's ResNet)."""
    if isinstance(parent, nn.Sequential):
        return names[i + 1] if i + 1 < len(names) else None
    name = names[i]
    return "bn" + name[4:] if name.startswith("conv") and ("bn" + name[4:]) in names else None


def conv_bn_pairs(parent: nn.Module, among: Optional[Sequence[str]] = None) -> List[tuple]:
    """(conv name, bn name) of the children of ``parent`` where a Conv2d is followed by a BatchNorm2d
    (both in ``among`` when given)."""
    names = list(parent._modules)
    pairs = []
    for i, name in enumerate(names):
        bn = _partner(parent, names, i) if isinstance(parent._modules[name], nn.Conv2d) else None
        if bn and isinstance(parent._modules[bn], nn.BatchNorm2d) and (among is None or (name in among and bn in among)):
            pairs.append((name, bn))
    return pairs


def fold_batchnorm(module: nn.Module) -> nn.Module:
    """Fold every Conv2d + following BatchNorm2d inside ``module`` (in place: give it a copy in eval mode)."""
    folded = set()
    for conv, bn in conv_bn_pairs(module):
        setattr(module, conv, fuse_conv_bn_eval(module._modules[conv], module._modules[bn]))
        setattr(module, bn, nn.Identity())
        folded.update((conv, bn))
    for name, child in module.named_children():
        if name not in folded:
            fold_batchnorm(child)
    return module


class _Inference(nn.Module):
    """A frozen module run as inference: eval mode whatever the parent's, channels_last, no autograd.
    ``last``: the end of the frozen prefix, where the tensor goes back to the default layout on CPU."""

    def __init__(self, module: nn.Module, last: bool):
        super().__init__()
        self.module, self.last = module.eval().to(memory_format=torch.channels_last), last
        for p in self.module.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> "_Inference":
        super().train(mode)
        self.module.eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            y = self.module(x.contiguous(memory_format=torch.channels_last) if x.dim() == 4 else x)
        if self.last and not y.is_cuda and y.dim() == 4:
            y = y.contiguous()
        return y


def _shallow(module: nn.Module) -> nn.Module:
    """A copy of ``module`` that shares every child, parameter and buffer (children can be swapped)."""
    twin = copy.copy(module)
    twin._modules = type(module._modules)(module._modules)
    return twin


def inference_twin(net: nn.Module, paths: Sequence[str]) -> nn.Module:
    """``net`` with the modules at ``paths`` replaced by folded inference copies; the rest shared."""
    twin = _shallow(net)
    copied = {""}
    groups = {}
    for path in paths:
        parent, _, leaf = path.rpartition(".")
        groups.setdefault(parent, []).append(leaf)
    for parent, leaves in groups.items():
        holder, here = twin, ""
        for part in parent.split(".") if parent else ():  # shallow copies down to the parent: the model stays as it is
            here = f"{here}.{part}" if here else part
            if here not in copied:
                holder._modules[part] = _shallow(holder._modules[part])
                copied.add(here)
            holder = holder._modules[part]
        copies = {leaf: copy.deepcopy(holder._modules[leaf]).eval() for leaf in leaves}
        for conv, bn in conv_bn_pairs(holder, among=leaves):  # siblings: ResNet's conv1 + bn1
            copies[conv], copies[bn] = fuse_conv_bn_eval(copies[conv], copies[bn]), nn.Identity()
        for leaf in leaves:
            full = f"{parent}.{leaf}" if parent else leaf
            holder._modules[leaf] = _Inference(fold_batchnorm(copies[leaf]), last=full == paths[-1])
    return twin


class FastFrozenForward(nn.Module):
    """``model``'s forward with its frozen leading stages run as folded inference copies."""

    def __init__(self, model: EdgeClassifier, arch: str, stages: List[str]):
        super().__init__()
        self.model = model
        self.stages = list(stages)
        self.twin = inference_twin(model.net, stage_modules(model.net, arch, stages))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        model = self.model
        return self.twin((x - model.mean.to(x.dtype)) / model.std.to(x.dtype))


def fast_frozen_forward(model: EdgeClassifier, arch: str) -> Optional[FastFrozenForward]:
    """The fast training forward for ``model`` as frozen now, or None when no leading stage is frozen."""
    stages = frozen_stages(model.net, arch)
    return FastFrozenForward(model, arch, stages) if stages else None
