"""The architecture table: every network ``edgeclass train --arch`` builds, in plain Python (no torch).

Each row names the torchvision builder and ImageNet weights, the classification head (ONE module at a
known attribute path, replaced by ``nn.Linear(feature_dim, num_classes)``; everything else keeps
torchvision's parameter names), the freeze points (stage names in forward order, usable with
``--unfreeze-from`` and ``--unfreeze-schedule``), and numbers a user chooses by. The numbers are
precomputed so that ``edgeclass models list`` needs no torch: ``params`` and ``gflops`` are counted
for the network as edgeclass builds it with a 10-class head at 224 px (FLOPs from
``torch.utils.flop_counter``: two per multiply-add; torchvision's docs list multiply-adds, half these);
``tests/train/test_archs.py`` recomputes them. Measured CPU latencies live in ``archs_measured.json``
(written by ``benchmarks/backbones.py``).

Freeze point names may also be written as ``head`` (the arch's head) or ``-1``, ``-2``, ... (the
last, second-last ... stage before the head), so a recipe's schedule fits every architecture.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..errors import EdgeclassError

MEASURED_FILE = Path(__file__).with_name("archs_measured.json")
HEAD_ALIAS = "head"
COUNT_CLASSES = 10  # the head size ``params`` and ``gflops`` are counted with


@dataclass(frozen=True)
class FreezePoint:
    name: str  # a module path = the prefix of its parameter names (``layer4``, ``features.13``)
    about: str  # one line: what starts here


@dataclass(frozen=True)
class Arch:
    name: str
    family: str
    builder: Optional[str]  # torchvision.models function; None: ours (models.SimpleCNN)
    weights_enum: Optional[str]  # torchvision.models weights enum, e.g. ResNet18_Weights
    weights_member: Optional[str]  # the member --weights imagenet loads, e.g. IMAGENET1K_V1
    head: str  # attribute path of the classification nn.Linear
    feature_dim: Optional[int]  # the head's in_features (None: depends on the input size)
    freeze_points: Tuple[FreezePoint, ...]  # forward order; the last one is the head
    params: int  # with a COUNT_CLASSES head
    gflops: float  # at 224 px, with a COUNT_CLASSES head
    imagenet_top1: Optional[float] = None  # torchvision's figure for the weights
    default_imgsz: int = 224
    min_imgsz: int = 32  # smallest input the network runs at (stride 32)
    int8: str = ""  # what to expect from INT8
    bn_momentum: Optional[float] = None  # BatchNorm momentum edgeclass sets (None: torchvision's)

    @property
    def has_imagenet(self) -> bool:
        return self.weights_enum is not None

    @property
    def stage_names(self) -> List[str]:
        return [f.name for f in self.freeze_points]

    def resolve_stage(self, name: str) -> str:
        """``head`` -> the head's path, ``-1`` -> the last stage before the head, else ``name``."""
        if name == HEAD_ALIAS:
            return self.head
        body = [n for n in self.stage_names if n != self.head]
        if name.startswith("-") and name[1:].isdigit():
            k = int(name[1:])
            if not 1 <= k <= len(body):
                raise EdgeclassError(f"stage {name} of {self.name}: there are {len(body)} stages before the head ({', '.join(body)})")
            return body[-k]
        return name


def _fp(*pairs: Tuple[str, str]) -> Tuple[FreezePoint, ...]:
    return tuple(FreezePoint(n, a) for n, a in pairs)


_RESNET_FP = _fp(
    ("conv1", "stem: 7x7 conv + BN (+ max-pool), /4"),
    ("layer1", "stage 1, /4"),
    ("layer2", "stage 2, /8"),
    ("layer3", "stage 3, /16"),
    ("layer4", "stage 4, /32"),
    ("fc", "head"),
)
_REGNET_FP = _fp(
    ("stem", "stem: 3x3 conv + BN, /2"),
    ("trunk_output.block1", "stage 1, /4"),
    ("trunk_output.block2", "stage 2, /8"),
    ("trunk_output.block3", "stage 3, /16"),
    ("trunk_output.block4", "stage 4, /32"),
    ("fc", "head"),
)
_INT8_CNN = "Conv+BN+ReLU: INT8-friendly"
_INT8_SE = "Conv+BN+ReLU with squeeze-excite (sigmoid gate): INT8-friendly"
_INT8_MBV3 = "depthwise convs, hard-swish, squeeze-excite (hard-sigmoid): sensitive; the accuracy budget keeps layers float"
# torchvision builds MobileNetV3 with BatchNorm momentum 0.01, tuned for ImageNet-length runs; in a run of a
# few hundred steps the running statistics then lag far behind the weights and eval accuracy stays at
# chance (measured on the digits: 95% train, 10% val after 300 steps). PyTorch's default 0.1 settles in time.
_MBV3_BN_MOMENTUM = 0.1


def _resnet(name: str, enum: str, dim: int, params: int, gflops: float, top1: float, about: str) -> Arch:
    return Arch(name, "resnet", name, enum, "IMAGENET1K_V1", "fc", dim, _RESNET_FP, params, gflops, top1,
                int8=_INT8_CNN + ("" if not about else f"; {about}"))


ARCH_TABLE: Dict[str, Arch] = {
    a.name: a
    for a in (
        Arch("simplecnn", "simplecnn", None, None, None, "fc", None,
             _fp(("features.0", "conv 3x3, 32 channels"), ("features.3", "conv 3x3, 64 channels"), ("fc", "head")),
             2_026_442, 0.5531, None, default_imgsz=32, min_imgsz=8,
             int8="two convs + ReLU: INT8-friendly; the head is sized for the training input (no --imgsz change)"),
        _resnet("resnet18", "ResNet18_Weights", 512, 11_181_642, 3.6271, 69.758, ""),
        _resnet("resnet34", "ResNet34_Weights", 512, 21_289_802, 7.3265, 73.314, ""),
        _resnet("resnet50", "ResNet50_Weights", 2048, 23_528_522, 8.1743, 76.130, "bottleneck blocks"),
        _resnet("resnet101", "ResNet101_Weights", 2048, 42_520_650, 15.5988, 77.374, "bottleneck blocks"),
        _resnet("resnet152", "ResNet152_Weights", 2048, 58_164_298, 23.0232, 78.312, "bottleneck blocks"),
        Arch("mobilenet_v3_small", "mobilenet_v3", "mobilenet_v3_small", "MobileNet_V3_Small_Weights", "IMAGENET1K_V1",
             "classifier.3", 1024,
             _fp(("features.0", "stem: 3x3 conv, hard-swish, /2"), ("features.1", "block 1, /4"),
                 ("features.2", "blocks 2-3, /8"), ("features.4", "blocks 4-8, /16 (squeeze-excite)"),
                 ("features.9", "blocks 9-11, /32"), ("features.12", "1x1 conv to 576"),
                 ("classifier.0", "576 -> 1024 linear + hard-swish"), ("classifier.3", "head")),
             1_528_106, 0.1110, 67.668, int8=_INT8_MBV3, bn_momentum=_MBV3_BN_MOMENTUM),
        Arch("mobilenet_v3_large", "mobilenet_v3", "mobilenet_v3_large", "MobileNet_V3_Large_Weights", "IMAGENET1K_V2",
             "classifier.3", 1280,
             _fp(("features.0", "stem: 3x3 conv, hard-swish, /2"), ("features.1", "block 1, /2"),
                 ("features.2", "blocks 2-3, /4"), ("features.4", "blocks 4-6, /8 (squeeze-excite)"),
                 ("features.7", "blocks 7-12, /16"), ("features.13", "blocks 13-15, /32"),
                 ("features.16", "1x1 conv to 960"), ("classifier.0", "960 -> 1280 linear + hard-swish"),
                 ("classifier.3", "head")),
             4_214_842, 0.4306, 75.274, int8=_INT8_MBV3, bn_momentum=_MBV3_BN_MOMENTUM),
        Arch("efficientnet_b0", "efficientnet", "efficientnet_b0", "EfficientNet_B0_Weights", "IMAGENET1K_V1",
             "classifier.1", 1280,
             _fp(("features.0", "stem: 3x3 conv, SiLU, /2"), ("features.1", "MBConv stage 1, /2"),
                 ("features.2", "MBConv stage 2, /4"), ("features.3", "MBConv stage 3, /8"),
                 ("features.4", "MBConv stage 4, /16"), ("features.5", "MBConv stage 5, /16"),
                 ("features.6", "MBConv stage 6, /32"), ("features.7", "MBConv stage 7, /32"),
                 ("features.8", "1x1 conv to 1280"), ("classifier.1", "head")),
             4_020_358, 0.7691, 77.692,
             int8="depthwise convs, SiLU, squeeze-excite (sigmoid): sensitive; the accuracy budget keeps layers float"),
        Arch("regnet_y_400mf", "regnet", "regnet_y_400mf", "RegNet_Y_400MF_Weights", "IMAGENET1K_V2", "fc", 440,
             _REGNET_FP, 3_907_554, 0.8028, 75.804, int8=_INT8_SE),
        Arch("regnet_y_800mf", "regnet", "regnet_y_800mf", "RegNet_Y_800MF_Weights", "IMAGENET1K_V2", "fc", 784,
             _REGNET_FP, 5_655_362, 1.6662, 78.828, int8=_INT8_SE),
        Arch("convnext_tiny", "convnext", "convnext_tiny", "ConvNeXt_Tiny_Weights", "IMAGENET1K_V1", "classifier.2", 768,
             _fp(("features.0", "stem: 4x4 patchify conv + LayerNorm, /4"), ("features.1", "stage 1 (3 blocks), /4"),
                 ("features.2", "downsample + stage 2 (3 blocks), /8"), ("features.4", "downsample + stage 3 (9 blocks), /16"),
                 ("features.6", "downsample + stage 4 (3 blocks), /32"), ("classifier.0", "final LayerNorm"),
                 ("classifier.2", "head")),
             27_827_818, 8.9095, 82.520,
             int8="LayerNorm, GELU, 7x7 depthwise convs, linear layers: the most INT8-sensitive here"),
    )
}

ARCH_NAMES: Tuple[str, ...] = tuple(ARCH_TABLE)


def arch_info(name: str) -> Arch:
    """The table row of ``name``; an unknown name is a one-line error listing the known ones."""
    if name not in ARCH_TABLE:
        raise EdgeclassError(f"unknown arch {name!r} (choose from {', '.join(ARCH_NAMES)})")
    return ARCH_TABLE[name]


def measured() -> Dict[str, Any]:
    """``archs_measured.json``: {"date", "machine", "command", "latency_imgsz", "archs": {name: {...}}};
    empty when the benchmark has not written it."""
    try:
        return json.loads(MEASURED_FILE.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
