"""The folded inference copy of frozen leading stages (train/frozen.py) trains the same model."""

import pytest
import torch

from edgeclass.spec import ModelCard, Preprocess
from edgeclass.train.freeze import freeze_before, set_frozen_batchnorm_eval
from edgeclass.train.frozen import FastFrozenForward, fast_frozen_forward, frozen_stages
from edgeclass.train.archs import ARCH_NAMES, arch_info
from edgeclass.train.models import build_model


def _resnet(seed=0):
    torch.manual_seed(seed)
    model = build_model(ModelCard(classes=["a", "b", "c"], arch="resnet18", preprocess=Preprocess.for_size(48)))
    model.train()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so folding has something to fold
        for _ in range(3):
            model(torch.rand(6, 3, 48, 48))
    return model


def test_which_stages_count_as_a_frozen_prefix():
    model = _resnet()
    assert frozen_stages(model.net, "resnet18") == [] and fast_frozen_forward(model, "resnet18") is None
    freeze_before(model.net, "layer3.1.conv1")  # layer3 only half frozen: it runs as usual
    assert frozen_stages(model.net, "resnet18") == ["conv1", "layer1", "layer2"]
    freeze_before(model.net, "bn1")  # the stem is conv1 + bn1: half of it frozen is no frozen stage
    assert frozen_stages(model.net, "resnet18") == []


def test_fast_forward_computes_the_models_function():
    model = _resnet()
    freeze_before(model.net, "layer4.0.conv1")
    fast = fast_frozen_forward(model, "resnet18")
    assert isinstance(fast, FastFrozenForward) and fast.stages == ["conv1", "layer1", "layer2", "layer3"]
    assert type(model.net.bn1).__name__ == "BatchNorm2d" and type(fast.twin.bn1).__name__ == "_Inference"  # the model is untouched
    for m in (model, fast):
        m.train()
        set_frozen_batchnorm_eval(m)
    x = torch.rand(4, 3, 48, 48)
    ref, out = model(x), fast(x)
    assert torch.allclose(ref, out, atol=1e-4, rtol=1e-4), (ref - out).abs().max()


def test_training_through_it_moves_only_the_trainable_layers():
    model = _resnet()
    freeze_before(model.net, "layer4.0.conv1")
    frozen_before = {k: v.clone() for k, v in model.net.state_dict().items() if not k.startswith(("layer4", "fc"))}
    head_before = model.net.fc.weight.detach().clone()
    fast = fast_frozen_forward(model, "resnet18")
    opt = torch.optim.SGD([p for p in fast.parameters() if p.requires_grad], lr=0.1)
    assert {id(p) for p in fast.parameters() if p.requires_grad} == {id(p) for p in model.parameters() if p.requires_grad}
    fast.train()
    set_frozen_batchnorm_eval(fast)
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(fast(torch.rand(6, 3, 48, 48)), torch.tensor([0, 1, 2, 0, 1, 2]))
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = model.net.state_dict()
    assert all(torch.equal(v, after[k]) for k, v in frozen_before.items())  # weights and BN statistics
    assert not torch.equal(head_before, model.net.fc.weight)


@pytest.mark.parametrize("arch, train_from", [(a, "-1") for a in ARCH_NAMES if a != "simplecnn" and not a.startswith("resnet")]
                         + [("mobilenet_v3_small", "head")])
def test_every_architecture_runs_its_frozen_stages_folded(arch, train_from):
    """The last stage and the head train; everything before it runs as a folded inference copy that
    computes the model's function (eval mode: EfficientNet's stochastic depth would differ in train)."""
    torch.manual_seed(0)
    model = build_model(ModelCard(classes=["a", "b", "c"], arch=arch, preprocess=Preprocess.for_size(32)))
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.rand(4, 3, 32, 32))
    freeze_before(model.net, train_from, arch)
    fast = fast_frozen_forward(model, arch)
    body = [n for n in arch_info(arch).stage_names if n != arch_info(arch).head]
    assert fast.stages == (body[:-1] if train_from == "-1" else body)
    for m in (model, fast):
        m.eval()
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        ref, out = model(x), fast(x)
    assert torch.allclose(ref, out, atol=1e-5 * float(ref.abs().max()) + 1e-7, rtol=1e-4), (ref - out).abs().max()
