"""MTCNN's three networks (PNet, RNet, ONet) as ONNX files, converted once from the weights that ship
inside the ``facenet-pytorch`` wheel (MIT licence; ``facenet_pytorch/data/{pnet,rnet,onet}.pt``, plain
state dicts). The runtime then runs them with ONNX Runtime or OpenCV and never needs torch.

The module definitions here are this project's own; their parameter names match those state dicts.
Two facts about those weights (they descend from the original Caffe release through a TensorFlow
port): inputs are RGB scaled as ``(x - 127.5) / 128``, and the fully connected layers of RNet/ONet
read the last feature map flattened in (width, height, channel) order, hence the permute.

``convert_mtcnn(out_dir)`` writes ``mtcnn-{pnet,rnet,onet}.onnx`` atomically, each tagged with its
stage in the ONNX metadata (``edgeclass.face_model``) so a loader can tell them from other files.
"""

from __future__ import annotations

import importlib.util
import tempfile
import warnings
from pathlib import Path
from typing import Dict, List, Optional

import torch
from torch import nn

from ..errors import EdgeclassError
from ..fileio import atomic_path
from ..facemodels import FACE_MODEL_KEY, MTCNN_FILES, MTCNN_OUTPUTS

WHEEL = "facenet-pytorch"
OPSET = 17


def _conv(cin: int, cout: int, k: int) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, kernel_size=k)


def _pool(k: int, s: int) -> nn.MaxPool2d:
    return nn.MaxPool2d(k, s, ceil_mode=True)


class PNet(nn.Module):
    """Proposal net: fully convolutional, a 12x12 window per output cell (stride 2)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1 = _conv(3, 10, 3), nn.PReLU(10)
        self.pool1 = _pool(2, 2)
        self.conv2, self.prelu2 = _conv(10, 16, 3), nn.PReLU(16)
        self.conv3, self.prelu3 = _conv(16, 32, 3), nn.PReLU(32)
        self.conv4_1 = _conv(32, 2, 1)
        self.conv4_2 = _conv(32, 4, 1)

    def forward(self, x: torch.Tensor):
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.prelu3(self.conv3(self.prelu2(self.conv2(x))))
        prob = torch.softmax(self.conv4_1(x), dim=1)[:, 1:2]
        return prob, self.conv4_2(x)


def _flatten_whc(x: torch.Tensor) -> torch.Tensor:
    return torch.flatten(x.permute(0, 3, 2, 1), 1)


class RNet(nn.Module):
    """Refinement net on 24x24 crops: face probability and box regression."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1, self.pool1 = _conv(3, 28, 3), nn.PReLU(28), _pool(3, 2)
        self.conv2, self.prelu2, self.pool2 = _conv(28, 48, 3), nn.PReLU(48), _pool(3, 2)
        self.conv3, self.prelu3 = _conv(48, 64, 2), nn.PReLU(64)
        self.dense4, self.prelu4 = nn.Linear(576, 128), nn.PReLU(128)
        self.dense5_1 = nn.Linear(128, 2)
        self.dense5_2 = nn.Linear(128, 4)

    def forward(self, x: torch.Tensor):
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.prelu4(self.dense4(_flatten_whc(self.prelu3(self.conv3(x)))))
        return torch.softmax(self.dense5_1(x), dim=1)[:, 1:2], self.dense5_2(x)


class ONet(nn.Module):
    """Output net on 48x48 crops: probability, box regression and five landmarks (x1..x5, y1..y5)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1, self.prelu1, self.pool1 = _conv(3, 32, 3), nn.PReLU(32), _pool(3, 2)
        self.conv2, self.prelu2, self.pool2 = _conv(32, 64, 3), nn.PReLU(64), _pool(3, 2)
        self.conv3, self.prelu3, self.pool3 = _conv(64, 64, 3), nn.PReLU(64), _pool(2, 2)
        self.conv4, self.prelu4 = _conv(64, 128, 2), nn.PReLU(128)
        self.dense5, self.prelu5 = nn.Linear(1152, 256), nn.PReLU(256)
        self.dense6_1 = nn.Linear(256, 2)
        self.dense6_2 = nn.Linear(256, 4)
        self.dense6_3 = nn.Linear(256, 10)

    def forward(self, x: torch.Tensor):
        x = self.pool1(self.prelu1(self.conv1(x)))
        x = self.pool2(self.prelu2(self.conv2(x)))
        x = self.pool3(self.prelu3(self.conv3(x)))
        x = self.prelu5(self.dense5(_flatten_whc(self.prelu4(self.conv4(x)))))
        return torch.softmax(self.dense6_1(x), dim=1)[:, 1:2], self.dense6_2(x), self.dense6_3(x)


NETS = {"pnet": PNet, "rnet": RNet, "onet": ONet}
CROP = {"pnet": 12, "rnet": 24, "onet": 48}


def wheel_weights_dir() -> Path:
    """``facenet_pytorch/data`` of the installed wheel, found without importing the package (its
    ``__init__`` pulls in torchvision and requests, and pins an old torch)."""
    spec = importlib.util.find_spec("facenet_pytorch")
    if spec is None or not spec.submodule_search_locations:
        raise EdgeclassError(
            f"MTCNN weights come from the {WHEEL} wheel, which is not installed: "
            f"pip install --no-deps {WHEEL}==2.6.0 (or make setup)"
        )
    return Path(list(spec.submodule_search_locations)[0]) / "data"


def load_net(stage: str, weights_dir: Path) -> nn.Module:
    """One stage with its weights (``torch.load(weights_only=True)``: a state dict, never a pickle)."""
    path = weights_dir / f"{stage}.pt"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise EdgeclassError(f"{path} is missing; reinstall {WHEEL} (pip install --no-deps --force-reinstall {WHEEL}==2.6.0)") from None
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise EdgeclassError(f"{path} is not a readable state dict ({type(e).__name__}); reinstall {WHEEL}") from None
    net = NETS[stage]()
    try:
        net.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as e:
        raise EdgeclassError(f"{path} does not hold MTCNN {stage} weights: {str(e).splitlines()[0][:160]}") from None
    return net.eval()


def _export(net: nn.Module, stage: str, path: Path) -> None:
    import onnx

    size = CROP[stage]
    example = torch.zeros(1, 3, size * 4 if stage == "pnet" else size, size * 4 if stage == "pnet" else size)
    axes = {0: "batch", 2: "height", 3: "width"} if stage == "pnet" else {0: "batch"}
    dynamic = {"input": axes, **{name: {0: "batch"} for name in list(MTCNN_OUTPUTS[stage])}}
    if stage == "pnet":
        dynamic.update({name: {0: "batch", 2: "rows", 3: "cols"} for name in list(MTCNN_OUTPUTS[stage])})
    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "raw.onnx"
        with warnings.catch_warnings(), torch.no_grad():
            warnings.simplefilter("ignore")
            torch.onnx.export(net, (example,), str(raw), dynamo=False, opset_version=OPSET, input_names=["input"],
                              output_names=list(MTCNN_OUTPUTS[stage]), dynamic_axes=dynamic, do_constant_folding=True)
        model = onnx.load(str(raw))
    for node in model.graph.node:
        del node.metadata_props[:]
    model.producer_name = "edgeclass"
    entry = model.metadata_props.add()
    entry.key, entry.value = FACE_MODEL_KEY, f"mtcnn-{stage}"
    with atomic_path(path) as tmp_path:
        onnx.save(model, str(tmp_path))


def convert_mtcnn(out_dir: Path, weights_dir: Optional[Path] = None, log=print) -> List[Path]:
    """Write ``mtcnn-{pnet,rnet,onet}.onnx`` into ``out_dir`` from the wheel's weights; the paths."""
    weights_dir = Path(weights_dir) if weights_dir is not None else wheel_weights_dir()
    nets: Dict[str, nn.Module] = {stage: load_net(stage, weights_dir) for stage in NETS}
    out = []
    for stage, net in nets.items():
        path = Path(out_dir) / MTCNN_FILES[stage]
        _export(net, stage, path)
        out.append(path)
    log(f"MTCNN ({WHEEL} weights, MIT) converted to ONNX in {out_dir}")
    return out
