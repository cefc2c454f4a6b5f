"""The folded inference copy of frozen ResNet stages (train/frozen.py) trains the same model."""

import torch

from edgeclass.spec import ModelCard, Preprocess
from edgeclass.train.freeze import freeze_before, set_frozen_batchnorm_eval
from edgeclass.train.frozen import FastFrozenForward, fast_frozen_forward, frozen_stages
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
    assert frozen_stages(model.net) == [] and fast_frozen_forward(model) is None
    freeze_before(model.net, "layer3.1.conv1")  # layer3 only half frozen: it runs as usual
    assert frozen_stages(model.net) == ["stem", "layer1", "layer2"]
    simple = build_model(ModelCard(classes=["a", "b"], arch="simplecnn", preprocess=Preprocess.for_size(32)))
    for p in simple.parameters():
        p.requires_grad_(False)
    assert frozen_stages(simple.net) == []


def test_fast_forward_computes_the_models_function():
    model = _resnet()
    freeze_before(model.net, "layer4.0.conv1")
    fast = fast_frozen_forward(model)
    assert isinstance(fast, FastFrozenForward) and fast.rest == ["layer4"]
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
    fast = fast_frozen_forward(model)
    opt = torch.optim.SGD([p for p in fast.parameters() if p.requires_grad], lr=0.1)
    assert all(p.requires_grad is False for p in fast.prefix.parameters())
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
