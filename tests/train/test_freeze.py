"""Freezing (--unfreeze-from) and gradual unfreezing (--unfreeze-schedule) on a real ResNet-18 at 32 px."""

from __future__ import annotations

import pytest
import torch

from edgeclass.errors import EdgeclassError
from edgeclass.train.checkpoint import load_checkpoint
from edgeclass.train.config import resolve_config
from edgeclass.train.freeze import freeze_before, parse_schedule
from edgeclass.train.models import build_network
from edgeclass.train.trainer import resume_config, train
from train_helpers import subset_manifest


def _start_weights(tmp_path):
    """A ResNet-18 with a 10-class head saved as a state dict, so the test knows the starting point."""
    torch.manual_seed(1)
    net = build_network("resnet18", 10, 32)
    path = tmp_path / "start.pth"
    torch.save(net.state_dict(), path)
    return {k: v.clone() for k, v in net.state_dict().items()}, path


def _config(digits_root, tmp_path, weights, **kw):
    manifest = subset_manifest(digits_root, tmp_path / "subset.csv", per_class=(4, 1, 1))
    return resolve_config(
        "seed-resnet101", data=str(digits_root), manifest=str(manifest), arch="resnet18", weights=str(weights),
        imgsz=32, batch=20, lr=1e-3, project=str(tmp_path / "runs"), name="r", device="cpu", **kw,
    )


def test_unfreeze_from_keeps_frozen_weights_and_batchnorm_statistics_bit_identical(digits_root, tmp_path):
    start, path = _start_weights(tmp_path)
    cfg = _config(digits_root, tmp_path, path, epochs=1)  # seed recipe: frozen before layer4.0.conv1
    assert cfg.unfreeze_from == "layer4.0.conv1"
    result = train(cfg, log=lambda m: None)
    after = load_checkpoint(result.run_dir / "weights" / "last.pt")["model"]
    trained_part = ("layer4.", "fc.")
    frozen = [k for k in start if not k.startswith(trained_part)]
    assert any("running_mean" in k for k in frozen) and any(k.startswith("layer3.1.bn2") for k in frozen)
    for k in frozen:  # conv weights, BN affine parameters AND running_mean/var/num_batches_tracked
        assert torch.equal(after[k], start[k]), f"frozen {k} changed"
    changed = [k for k in start if k.startswith(trained_part) and not torch.equal(after[k], start[k])]
    assert "fc.weight" in changed and "layer4.0.conv1.weight" in changed
    assert "layer4.0.bn1.running_mean" in changed  # trainable BN layers still learn their statistics


def test_unfreeze_schedule_trains_stages_from_their_epoch_with_lower_lr_and_survives_resume(digits_root, tmp_path):
    start, path = _start_weights(tmp_path)
    cfg = _config(digits_root, tmp_path, path, epochs=2, unfreeze_schedule="0:fc,1:layer4", stop_after=1,
                  unfreeze_lr_decay=0.25, scheduler="constant")
    assert cfg.unfreeze_from is None  # a schedule replaces the recipe's freezing
    run = train(cfg, log=lambda m: None).run_dir
    ck = load_checkpoint(run / "weights" / "last.pt")
    after1 = ck["model"]
    assert not torch.equal(after1["fc.weight"], start["fc.weight"])
    for k in start:
        if not k.startswith("fc."):
            assert torch.equal(after1[k], start[k]), f"{k} trained before its stage"
    lrs = {g["name"]: g["lr"] for g in ck["optimizer"]["param_groups"]}
    assert lrs == pytest.approx({"fc": 1e-3, "layer4": 0.25e-3})

    cfg2, state = resume_config(str(run / "weights" / "last.pt"), {})
    train(cfg2, resume=state, log=lambda m: None)
    after2 = load_checkpoint(run / "weights" / "last.pt")["model"]
    assert not torch.equal(after2["layer4.1.conv2.weight"], start["layer4.1.conv2.weight"])  # joined at epoch 1
    assert torch.equal(after2["layer3.0.conv1.weight"], start["layer3.0.conv1.weight"])  # never listed: frozen


def test_bad_freeze_names_are_one_line_errors():
    net = build_network("resnet18", 3, 32)
    with pytest.raises(EdgeclassError, match="layer9"):
        freeze_before(net, "layer9")
    for bad in ("fc", "0:fc,x", "3:layer4,0:fc", ""):
        with pytest.raises(EdgeclassError):
            parse_schedule(bad)
