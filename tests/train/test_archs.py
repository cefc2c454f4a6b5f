"""Every architecture of the table through the whole chain on the CPU, at 32 px on two digit classes:
train (a step, with the arch's own freeze point), export (parity 100% top-1), INT8 both flavours, the
TensorRT engine plan, and `edgeclass run` on the INT8 CPU model. Plus the table itself against torchvision."""

from __future__ import annotations

import json

import pytest
import torch
from click.testing import CliRunner

from edgeclass.cli import cli
from edgeclass.train.archs import ARCH_NAMES, ARCH_TABLE, COUNT_CLASSES, arch_info
from edgeclass.train.checkpoint import load_checkpoint
from edgeclass.train.models import build_network, build_shapes_only, complexity
from train_helpers import subset_manifest

HEAVY = {"resnet101", "resnet152", "convnext_tiny"}  # the slowest to build and export: marked slow, still run in CI


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _arch_params():
    return [pytest.param(a, marks=pytest.mark.slow) if a in HEAVY else a for a in ARCH_NAMES]


@pytest.fixture(scope="module")
def two_digits(digits_root, tmp_path_factory):
    """8 train, 4 val and 4 test images of two digit classes."""
    return subset_manifest(digits_root, tmp_path_factory.mktemp("m") / "two.csv", per_class=(4, 2, 2), classes=2)


@pytest.fixture(scope="module")
def four_images(digits_root, tmp_path_factory):
    folder = tmp_path_factory.mktemp("imgs")
    for cls in sorted(p.name for p in digits_root.iterdir() if p.is_dir())[:2]:
        for p in sorted((digits_root / cls).iterdir())[:2]:
            (folder / f"{cls}_{p.name}").write_bytes(p.read_bytes())
    return folder


@pytest.mark.parametrize("arch", _arch_params())
def test_every_architecture_trains_exports_quantizes_plans_and_runs(arch, digits_root, two_digits, four_images, tmp_path):
    from edgeclass.calibration.pipeline import CalibrationConfig, run_calibration
    from edgeclass.export import ExportConfig, export
    from edgeclass.train.config import resolve_config
    from edgeclass.train.trainer import train

    info = arch_info(arch)
    size = 32
    cfg = resolve_config("default", data=str(digits_root), manifest=str(two_digits), arch=arch, weights="none", epochs=1,
                         batch=8, val_batch=8, imgsz=size, augment="none", workers=0, device="cpu",
                         unfreeze_from="-1", project=str(tmp_path / "runs"), name=arch)
    result = train(cfg, log=lambda _m: None)
    run = result.run_dir
    ckpt = load_checkpoint(run / "weights" / "best.pt")
    if info.builder:  # torchvision's own names: the weights load into a plain torchvision model (keys and shapes checked)
        import torchvision.models as tvm

        try:
            with torch.device("meta"):
                plain = getattr(tvm, info.builder)(num_classes=2)
        except NotImplementedError:  # RegNet's constructor reads tensor values
            plain = getattr(tvm, info.builder)(num_classes=2)
        plain.load_state_dict(ckpt["model"], strict=True, assign=True)

    exported = export(ExportConfig(source=run, formats=("onnx",), parity_images=4))
    assert exported.ok, exported.parity
    assert [r.top1_agree for r in exported.parity] == [1.0]

    # both INT8 flavours (ModelOpt's third file has its own tests in tests/calibration/)
    calibrated = run_calibration(CalibrationConfig(source=run, num=8, batch=8, max_drop=100.0, targets=("int8", "int8-cpu")))
    assert {m.name for m in calibrated.models} == {"int8", "int8-cpu"}
    assert (run / "weights" / "model.int8.onnx").is_file() and (run / "weights" / "model.int8-cpu.onnx").is_file()

    for precision, version, source in (("int8", "10.3", "model.int8.onnx"), ("fp16", "10.3", "model.onnx")):
        plan = invoke("engine", run, "--precision", precision, "--print-trtexec", "--trt-version", version)
        assert plan.exit_code == 0 and source in plan.output and f"{size}x{size}" in plan.output, plan.output

    res = invoke("run", run / "weights" / "model.int8-cpu.onnx", "--source", four_images, "--json", "-", "--smooth", "1",
                 "--threshold", "none")
    assert res.exit_code == 0, res.output
    records = [json.loads(ln) for ln in res.stdout.splitlines() if ln.startswith("{")]
    card = json.loads((run / "model_card.json").read_text())
    assert len(records) == 4 and all(r["regions"][0]["label"] in card["classes"] for r in records)


def test_frozen_stages_do_not_move_while_the_last_stage_trains(digits_root, two_digits, tmp_path):
    """`--unfreeze-from -1` on MobileNetV3: features.0-12 bit-identical (BatchNorm statistics too)."""
    from edgeclass.train.config import resolve_config
    from edgeclass.train.trainer import train

    torch.manual_seed(0)
    start = build_network("mobilenet_v3_small", 2, 32)
    torch.save(start.state_dict(), tmp_path / "start.pth")
    cfg = resolve_config("default", data=str(digits_root), manifest=str(two_digits), arch="mobilenet_v3_small",
                         weights=str(tmp_path / "start.pth"), epochs=1, batch=4, imgsz=32, augment="none", workers=0,
                         device="cpu", unfreeze_from="-1", lr=0.05, project=str(tmp_path / "runs"), name="m")
    after = load_checkpoint(train(cfg, log=lambda _m: None).run_dir / "weights" / "last.pt")["model"]
    before = start.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items() if k.startswith("features."))
    assert not all(torch.equal(after[k], v) for k, v in before.items() if k.startswith("classifier.0."))


def test_the_table_matches_torchvision_and_its_numbers_are_recomputed():
    import torchvision.models as tvm

    for name, arch in ARCH_TABLE.items():
        params, gflops = complexity(name, 224, COUNT_CLASSES)
        assert params == arch.params and gflops == pytest.approx(arch.gflops, abs=6e-5), (name, params, gflops)
        net = build_shapes_only(name, COUNT_CLASSES, 224)
        head = net.get_submodule(arch.head)
        assert isinstance(head, torch.nn.Linear) and head.out_features == COUNT_CLASSES
        if arch.feature_dim is not None:
            assert head.in_features == arch.feature_dim
        names = [n for n, _ in net.named_parameters()]
        firsts = [next(i for i, n in enumerate(names) if n == p or n.startswith(p + ".")) for p in arch.stage_names]
        assert firsts == sorted(firsts) and arch.stage_names[-1] == arch.head, name  # forward order, head last
        if arch.bn_momentum is not None:  # MobileNetV3: a BatchNorm that settles within a short run
            assert all(m.momentum == arch.bn_momentum for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d))
        if arch.has_imagenet:
            weights = getattr(getattr(tvm, arch.weights_enum), arch.weights_member)
            assert weights.meta["_metrics"]["ImageNet-1K"]["acc@1"] == pytest.approx(arch.imagenet_top1)
            assert arch.builder in weights.url or arch.name in weights.url


def test_models_list_shows_every_architecture_with_its_freeze_points_without_torch(tmp_path):
    import subprocess
    import sys

    code = "import sys; sys.modules['torch'] = None; from edgeclass.cli import cli; cli(['models', 'list'])"
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    for name, arch in ARCH_TABLE.items():
        assert name in proc.stdout and ", ".join(arch.stage_names) in proc.stdout
    res = invoke("models", "list", "regnet_y_400mf", "--json")
    row = json.loads(res.output)
    assert res.exit_code == 0 and row["head"] == "fc" and row["freeze_points"][1]["name"] == "trunk_output.block1"
    bad = invoke("models", "list", "resnet9")
    assert bad.exit_code == 2 and "unknown arch 'resnet9'" in bad.output and "mobilenet_v3_small" in bad.output


def test_train_help_names_the_architectures_and_where_their_freeze_points_are():
    res = invoke("train", "--help")
    assert res.exit_code == 0 and all(a in res.output for a in ARCH_NAMES) and "models list" in res.output


@pytest.mark.parametrize(
    "args, words",
    [
        (["--arch", "mobilenet_v3_large", "--unfreeze-from", "layer4"],
         ["no parameter of mobilenet_v3_large is named 'layer4'", "features.0, features.1, features.2, features.4"]),
        (["--arch", "convnext_tiny", "--unfreeze-schedule", "0:head,2:-9"], ["stage -9 of convnext_tiny", "features.6, classifier.0"]),
        (["--arch", "efficientnet", "--unfreeze-from", "head"], ["unknown arch 'efficientnet'", "efficientnet_b0"]),
    ],
)
def test_bad_architecture_options_are_one_line_errors(digits_root, tmp_path, args, words):
    res = invoke("train", digits_root, "--weights", "none", "--imgsz", "32", "--project", tmp_path / "runs", *args)
    lines = [ln for ln in res.output.splitlines() if ln.strip()]
    assert res.exit_code == 2 and len(lines) == 1, res.output
    assert all(w in lines[0] for w in words), lines[0]
    assert not (tmp_path / "runs").exists()


def test_weights_for_another_architecture_say_what_they_are_for(digits_root, trained_run, tmp_path):
    torch.save(build_network("mobilenet_v3_small", 1000, 224).state_dict(), tmp_path / "mbv3.pth")
    res = invoke("train", digits_root, "--arch", "regnet_y_400mf", "--weights", tmp_path / "mbv3.pth", "--imgsz", "32",
                 "--project", tmp_path / "runs")
    assert res.exit_code == 2 and "do not fit regnet_y_400mf: they are mobilenet_v3_small weights with a 1000-class head" in res.output
    res = invoke("train", digits_root, "--arch", "resnet18", "--weights", trained_run / "weights" / "best.pt", "--imgsz", "32",
                 "--project", tmp_path / "runs")
    assert res.exit_code == 2 and "is an edgeclass simplecnn checkpoint with 10 classes" in res.output, res.output
    assert "--arch simplecnn" in res.output and not (tmp_path / "runs").exists()


@pytest.mark.parametrize("arch", ["resnet18", "mobilenet_v3_large", "efficientnet_b0", "regnet_y_400mf", "convnext_tiny"])
def test_the_face_recipe_trains_the_last_stage_and_the_head_of_every_architecture(arch):
    """``-1`` names each architecture's own last stage; every other parameter is frozen."""
    from edgeclass.train.config import resolve_config
    from edgeclass.train.freeze import param_groups

    cfg = resolve_config("face", arch=arch)
    net = build_shapes_only(arch, 3, cfg.imgsz)
    (group,) = param_groups(net, cfg.lr, cfg.unfreeze_from, cfg.unfreeze_schedule, cfg.unfreeze_lr_decay, arch)
    info = arch_info(arch)
    last = [n for n in info.stage_names if n != info.head][-1]
    trainable = {id(p) for p in group["params"]}
    for name, p in net.named_parameters():
        assert (id(p) in trainable) == name.startswith((last + ".", info.head + ".")), name


def test_the_face_recipe_keeps_the_whole_aligned_crop_and_the_weights_statistics():
    from edgeclass.data.datasets import Augment, random_resized_crop_box
    from edgeclass.train.components import card_preprocess
    from edgeclass.train.config import resolve_config

    pp = card_preprocess(resolve_config("face", arch="efficientnet_b0"))  # ImageNet weights: bicubic, their mean/std
    assert (pp.imgsz, pp.resize, pp.interpolation) == (112, 112, "cubic")
    aug = Augment.preset("face")
    torch.manual_seed(0)
    boxes = [random_resized_crop_box(112, 112, aug.scale, aug.ratio) for _ in range(200)]
    assert all(h * w >= 0.78 * 112 * 112 and 0.85 <= w / h <= 1.15 for _, _, h, w in boxes)


@pytest.mark.parametrize("arch", ARCH_NAMES)
def test_the_module_at_the_head_path_is_the_last_thing_forward_runs(arch):
    """What the people issue relies on: swap the module at ``head`` for one that returns (logits,
    embedding) and the network returns exactly that (shapes only, on the meta device)."""
    from edgeclass.train.models import head_of, set_module

    class TwoOutputs(torch.nn.Module):
        def __init__(self, features):
            super().__init__()
            self.logits, self.embed = torch.nn.Linear(features, 3), torch.nn.Linear(features, 8)

        def forward(self, x):
            return self.logits(x), self.embed(x)

    info = arch_info(arch)
    net = build_shapes_only(arch, 3, 32).eval()
    head = head_of(net, arch)
    set_module(net, info.head, TwoOutputs(head.in_features).to(head.weight.device))
    with torch.no_grad():
        out = net(torch.zeros(2, 3, 32, 32, device=head.weight.device))
    assert isinstance(out, tuple) and out[0].shape == (2, 3) and out[1].shape == (2, 8)
