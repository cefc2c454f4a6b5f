"""Freezing and gradual unfreezing.

Names are torchvision parameter names of the bare network (``layer4.0.conv1.weight``), so the
options read like the model's own ``named_parameters()``.

- ``--unfreeze-from layer4.0.conv1``: every parameter before the first one whose name starts with
  that prefix gets ``requires_grad=False`` (no gradient is computed for it, the optimizer never
  touches it, and BatchNorm layers in that part stay in eval mode so their running statistics
  are not updated either).
- ``--unfreeze-schedule 0:fc,3:layer4,6:layer3``: stage ``fc`` trains from epoch 0, ``layer4`` joins
  at epoch 3 (0-based: after three epochs), ``layer3`` at epoch 6. Everything not listed stays
  frozen. Each stage listed later has its own optimizer param group with the learning rate
  multiplied by ``unfreeze_lr_decay`` once more (earlier layers learn more slowly).

Each architecture names its freeze points (``archs.ARCH_TABLE``); any parameter-name prefix works,
and ``head`` / ``-1`` / ``-2`` ... name the head and the last stages before it in every architecture
(``0:head,2:-1,4:-2`` is ``0:fc,2:layer4,4:layer3`` on a ResNet).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from torch import nn

from ..errors import EdgeclassError
from .archs import arch_info


def _matches(param_name: str, prefix: str) -> bool:
    return param_name == prefix or param_name.startswith(prefix + ".")



def _unknown_prefix_error(prefix: str, names: Sequence[str], arch: Optional[str] = None) -> EdgeclassError:
    if arch is not None:
        points = ", ".join(arch_info(arch).stage_names)
        return EdgeclassError(
            f"no parameter of {arch} is named {prefix!r} or starts with {prefix + '.'!r}; its freeze points are {points} "
            f"(also head, -1, -2, ... or any parameter-name prefix, e.g. {names[len(names) // 2].rsplit('.', 1)[0]})"
        )
    tops = sorted({n.split(".")[0] for n in names})
    return EdgeclassError(
        f"no parameter of the model is named {prefix!r} or starts with {prefix + '.'!r} (top-level modules: {', '.join(tops)})"
    )


def resolve_name(name: str, arch: Optional[str]) -> str:
    """``head`` / ``-N`` -> the architecture's stage name (unchanged without ``arch``)."""
    return arch_info(arch).resolve_stage(name) if arch else name


def freeze_before(net: nn.Module, prefix: str, arch: Optional[str] = None) -> List[str]:
    """Freeze every parameter that comes before the first one matching ``prefix``; returns the frozen names."""
    prefix = resolve_name(prefix, arch)
    named = list(net.named_parameters())
    first = next((i for i, (n, _) in enumerate(named) if _matches(n, prefix)), None)
    if first is None:
        raise _unknown_prefix_error(prefix, [n for n, _ in named], arch)
    for i, (_, p) in enumerate(named):
        p.requires_grad_(i >= first)
    return [n for n, _ in named[:first]]


@dataclass(frozen=True)
class Stage:
    epoch: int  # 0-based epoch from which the stage trains
    prefix: str


def parse_schedule(text: str, arch: Optional[str] = None) -> List[Stage]:
    """``"0:fc,3:layer4"`` -> [Stage(0, "fc"), Stage(3, "layer4")] (one-line error for anything else);
    with ``arch``, ``head`` and ``-N`` become that architecture's stage names."""
    stages = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        epoch, sep, prefix = part.partition(":")
        if not sep or not prefix.strip() or not epoch.strip().isdigit():
            raise EdgeclassError(f"bad --unfreeze-schedule entry {part!r}; write EPOCH:MODULE pairs, e.g. 0:fc,3:layer4,6:layer3")
        stages.append(Stage(int(epoch), resolve_name(prefix.strip(), arch)))
    if not stages:
        raise EdgeclassError("--unfreeze-schedule is empty; write EPOCH:MODULE pairs, e.g. 0:fc,3:layer4")
    if [s.epoch for s in stages] != sorted(s.epoch for s in stages):
        raise EdgeclassError("--unfreeze-schedule epochs must not decrease (e.g. 0:fc,3:layer4,6:layer3)")
    return stages


def schedule_groups(net: nn.Module, stages: Sequence[Stage], arch: Optional[str] = None) -> List[List[Tuple[str, nn.Parameter]]]:
    """The parameters of each stage (a parameter belongs to the first stage whose prefix matches)."""
    named = list(net.named_parameters())
    taken: Dict[str, int] = {}
    for i, st in enumerate(stages):
        hits = [n for n, _ in named if _matches(n, st.prefix) and n not in taken]
        if not hits and not any(_matches(n, st.prefix) for n, _ in named):
            raise _unknown_prefix_error(st.prefix, [n for n, _ in named], arch)
        for n in hits:
            taken[n] = i
    return [[(n, p) for n, p in named if taken.get(n) == i] for i in range(len(stages))]


def apply_schedule(net: nn.Module, stages: Sequence[Stage], epoch: int) -> List[str]:
    """Set requires_grad for ``epoch`` (0-based): stages whose epoch has come train, the rest is frozen.
    Returns the prefixes trainable now."""
    groups = schedule_groups(net, stages)
    active = {n for st, g in zip(stages, groups) if st.epoch <= epoch for n, _ in g}
    for n, p in net.named_parameters():
        p.requires_grad_(n in active)
    return [st.prefix for st in stages if st.epoch <= epoch]


def set_frozen_batchnorm_eval(net: nn.Module) -> int:
    """Put every BatchNorm whose affine parameters are frozen into eval mode (call after ``.train()``):
    a frozen layer must not drift through its running mean/var. Returns how many were set."""
    n = 0
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            params = list(m.parameters(recurse=False))
            if params and not any(p.requires_grad for p in params):
                m.eval()
                n += 1
    return n


def trainable_count(net: nn.Module) -> Tuple[int, int]:
    """(trainable parameters, all parameters), counted in elements."""
    total = sum(p.numel() for p in net.parameters())
    return sum(p.numel() for p in net.parameters() if p.requires_grad), total


def param_groups(net: nn.Module, lr: float, unfreeze_from: Optional[str], schedule: Optional[str], lr_decay: float,
                 arch: Optional[str] = None) -> List[dict]:
    """Optimizer param groups for the freezing options. Frozen parameters of ``--unfreeze-from`` are
    left out; with a schedule every listed stage gets a group from the start (its parameters simply
    have no gradient until the stage's epoch) so the optimizer and its state survive a resume."""
    if schedule:
        stages = parse_schedule(schedule, arch)
        groups = schedule_groups(net, stages, arch)
        return [
            {"params": [p for _, p in g], "lr": lr * (lr_decay**i), "name": st.prefix}
            for i, (st, g) in enumerate(zip(stages, groups))
            if g
        ]
    if unfreeze_from:
        freeze_before(net, unfreeze_from, arch)
    return [{"params": [p for p in net.parameters() if p.requires_grad], "lr": lr, "name": "all"}]
