"""The TensorRT decisions (edgeclass.engine) as plain functions: they run everywhere, TensorRT or not.
Each of issue 14's engine defects (3-10) has its decision tested here; the glue that calls them is
tests/engine/test_build.py."""

from __future__ import annotations

import json
import shlex

import pytest

from edgeclass.errors import EdgeclassError
from edgeclass.spec import ModelCard, Preprocess
from edgeclass.artifacts import trt_cache
from edgeclass.artifacts.engine import sidecar_path
from edgeclass.engine.plan import (
    build_timing_cache, calibration_cache_path, engine_path, int8_source, plan_build, PRECISIONS, tf32_allowed, timing_cache_path,
    TrtVersion,
)
from edgeclass.engine.shapes import profile_shapes, trtexec_shape_args
from edgeclass.engine.sidecar import (
    check_sidecar, deserialize_failure_verdict, GpuInfo, make_sidecar, parse_l4t_release, rebuild_command, request_from_sidecar,
    SIDECAR_FORMAT, staleness,
)
from edgeclass.engine.source import check_input_shape, check_source_fits, onnx_kind, resolve_source
from edgeclass.engine.trtexec import trtexec_command

V85, V86, V10, V11 = (TrtVersion.parse(v) for v in ("8.5.2.2", "8.6.2", "10.3.0.30", "11.0.0"))
ORIN = GpuInfo("Orin", "8.7")


def card(imgsz: int = 32) -> ModelCard:
    return ModelCard(classes=["alice", "bob", "carol"], arch="resnet18", preprocess=Preprocess.for_size(imgsz))


# -- versions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text, parts, code",
    [("8.5.2.2", (8, 5, 2), 8502), ("8.6.1", (8, 6, 1), 8601), ("10.3.0.30", (10, 3, 0), 100300), ("11.0", (11, 0, 0), 110000)],
)
def test_version_parse_and_calibration_code(text, parts, code):
    v = TrtVersion.parse(text)
    assert (v.major, v.minor, v.patch) == parts
    assert v.code == code  # the number TensorRT writes into calibration cache headers


@pytest.mark.parametrize("old", ["8.4.3", "8.2.1.8", "7.1.3"])
def test_tensorrt_older_than_8_5_is_refused_with_a_clear_message(old):
    with pytest.raises(EdgeclassError, match="needs TensorRT 8.5 or newer"):
        plan_build(TrtVersion.parse(old), "fp16")


def test_unreadable_version_is_an_error():
    with pytest.raises(EdgeclassError, match="cannot read TensorRT version"):
        TrtVersion.parse("dev")


# -- build plans per version -----------------------------------------------------------------


@pytest.mark.parametrize(
    "version, precision, source, net, flags",
    [
        (V85, "fp32", "model.onnx", ("EXPLICIT_BATCH",), ()),
        (V85, "fp16", "model.onnx", ("EXPLICIT_BATCH",), ("FP16",)),
        (V85, "int8", "model.int8.onnx", ("EXPLICIT_BATCH",), ("INT8", "FP16")),
        (V86, "fp16", "model.onnx", ("EXPLICIT_BATCH",), ("FP16",)),
        (V86, "int8", "model.int8.onnx", ("EXPLICIT_BATCH",), ("INT8", "FP16")),
        (V10, "fp32", "model.onnx", ("STRONGLY_TYPED",), ()),
        (V10, "fp16", "model.onnx", (), ("FP16",)),
        (V10, "int8", "model.int8-fp16.onnx", ("STRONGLY_TYPED",), ()),
        (V11, "fp32", "model.onnx", (), ()),
        (V11, "fp16", "model.fp16.onnx", (), ()),
        (V11, "int8", "model.int8-fp16.onnx", (), ()),
    ],
)
def test_plan_per_version_and_precision(version, precision, source, net, flags):
    plan = plan_build(version, precision)
    assert (plan.source_onnx, plan.network_flags, plan.builder_flags) == (source, net, flags)


def test_tensorrt_11_plans_are_strongly_typed_and_use_no_removed_flags():
    for p in PRECISIONS:
        plan = plan_build(V11, p)
        assert plan.strongly_typed
        assert not {"FP16", "INT8"} & set(plan.builder_flags)
        assert "EXPLICIT_BATCH" not in plan.network_flags
    # 10.x: EXPLICIT_BATCH is deprecated and ignored, so it is never asked for
    assert all("EXPLICIT_BATCH" not in plan_build(V10, p).network_flags for p in PRECISIONS)


def test_expected_onnx_kind_follows_the_source():
    assert plan_build(V10, "fp16").expected_onnx_kind == "fp32"  # weakly typed: fp32 graph + FP16 flag
    assert plan_build(V11, "fp16").expected_onnx_kind == "fp16"
    assert plan_build(V86, "int8").expected_onnx_kind == "int8"
    assert plan_build(V10, "int8").expected_onnx_kind == "int8-fp16"


def test_int8_source_per_version():
    """Defect 2: the opset-17 file for 8.5/8.6, ModelOpt's fp16 Q/DQ file strongly typed on 10/11,
    the opset-17 file weakly typed on 10.x without it, and a refusal naming calibrate on 11."""
    both = ["model.int8.onnx", "model.int8-fp16.onnx"]
    assert int8_source(V86, both)[:3] == ("model.int8.onnx", ("EXPLICIT_BATCH",), ("INT8", "FP16"))
    assert int8_source(V85, ["model.int8.onnx"])[0] == "model.int8.onnx"
    assert int8_source(V10, both)[:3] == ("model.int8-fp16.onnx", ("STRONGLY_TYPED",), ())
    assert int8_source(V10, ["model.int8.onnx"])[:3] == ("model.int8.onnx", (), ("INT8", "FP16"))
    assert int8_source(V11, both)[:3] == ("model.int8-fp16.onnx", (), ())
    with pytest.raises(EdgeclassError, match="model.int8-fp16.onnx, which is missing.*edgeclass calibrate"):
        int8_source(V11, ["model.int8.onnx"])
    with pytest.raises(EdgeclassError, match="opset-17 model.int8.onnx, which is missing"):
        int8_source(V86, ["model.int8-fp16.onnx"])
    assert plan_build(V10, "int8", available=["model.int8.onnx"]).builder_flags == ("INT8", "FP16")


def test_fp32_plans_turn_tf32_off():
    """Defect 10: TF32 is on by default in TensorRT; an fp32 engine clears it."""
    for v in (V85, V86, V10, V11):
        assert plan_build(v, "fp32").clear_flags == ("TF32",)
        assert plan_build(v, "fp16").clear_flags == ()
    assert not tf32_allowed("fp32") and tf32_allowed("fp16") and tf32_allowed("int8")
    assert "--noTF32" in trtexec_command(plan_build(V10, "fp32"), "m.onnx", "e", profile_shapes(32))


def test_implicit_calibrator_uses_fp32_onnx_weakly_typed_before_11():
    for v in (V85, V86, V10):
        plan = plan_build(v, "int8", calibrator=True)
        assert plan.calibrator and plan.source_onnx == "model.onnx"
        assert set(plan.builder_flags) >= {"INT8", "FP16"}
        assert "STRONGLY_TYPED" not in plan.network_flags  # calibration needs a weakly typed network


def test_calibrator_is_refused_on_11_and_for_other_precisions():
    with pytest.raises(EdgeclassError, match="removed in 11"):
        plan_build(V11, "int8", calibrator=True)
    with pytest.raises(EdgeclassError, match="only applies to --precision int8"):
        plan_build(V10, "fp16", calibrator=True)


def test_dla_adds_gpu_fallback_and_refuses_fp32_and_versions_without_dla():
    plan = plan_build(V86, "fp16", dla_core=1)
    assert plan.dla_core == 1 and "GPU_FALLBACK" in plan.builder_flags
    with pytest.raises(EdgeclassError, match="DLA runs only fp16 or int8"):
        plan_build(V86, "fp32", dla_core=0)
    assert plan_build(TrtVersion.parse("10.7.0"), "int8", dla_core=0).dla_core == 0  # last 10.x with DLA
    for gone in ("10.8.0", "11.0.0", "11.4.0"):
        with pytest.raises(EdgeclassError, match="does not support DLA"):
            plan_build(TrtVersion.parse(gone), "int8", dla_core=0)
    back = plan_build(TrtVersion.parse("11.4.1"), "fp16", dla_core=0)  # AGX Orin, JetPack 7.2.2+: strongly typed
    assert back.strongly_typed and back.source_onnx == "model.fp16.onnx" and "FP16" not in back.builder_flags


def test_dla_int8_never_takes_the_qdq_model():
    """Defect 3: DLA runs no explicit (Q/DQ) INT8; int8 on DLA is routed through the implicit
    calibrator where the version has one (8.5-10.7) and refused where it has not (11.4.1+)."""
    for v in (V85, V86, V10, TrtVersion.parse("10.7.0")):
        plan = plan_build(v, "int8", dla_core=0)
        assert plan.calibrator and plan.source_onnx == "model.onnx" and plan.expected_onnx_kind == "fp32"
        assert set(plan.builder_flags) == {"INT8", "FP16", "GPU_FALLBACK"} and "STRONGLY_TYPED" not in plan.network_flags
    with pytest.raises(EdgeclassError, match="no implicit INT8 calibration.*--precision fp16"):
        plan_build(TrtVersion.parse("11.4.1"), "int8", dla_core=0)
    with pytest.raises(EdgeclassError, match="DLA does not run explicitly quantized"):
        check_source_fits(plan_build(V86, "int8", dla_core=0), "int8", "w/model.int8.onnx")


def test_dla_profiles_are_static():
    from edgeclass.engine.dla import dla_shapes

    assert dla_shapes(profile_shapes(32), range_given=False).batches == (1, 1, 1)  # the default 1..8 tuned for 1
    assert dla_shapes(profile_shapes(32, opt_batch=2, max_batch=8), range_given=False).batches == (2, 2, 2)
    assert dla_shapes(profile_shapes(32, batch=4), range_given=True).batches == (4, 4, 4)
    with pytest.raises(EdgeclassError, match="use --batch N"):
        dla_shapes(profile_shapes(32, min_batch=1, max_batch=8), range_given=True)


def test_dla_placement_is_reported_not_assumed():
    from edgeclass.engine.dla import builder_placement, placement_phrase

    placement = builder_placement(["conv1", "relu1", "fc"], [True, True, False], 0)
    assert (placement["dla_layers"], placement["gpu_layers"], placement["gpu_fallback"]) == (2, 1, ["fc"])
    assert placement_phrase(placement, 0) == "DLA core 0: 2 of 3 layers, 1 on the GPU (fc)"
    assert "placement unknown" in placement_phrase(None, 1)
    assert builder_placement(["a", "b"], [], None)["gpu_layers"] == 2


def test_version_compatible_needs_8_6():
    assert "VERSION_COMPATIBLE" in plan_build(V86, "fp16", version_compatible=True).builder_flags
    with pytest.raises(EdgeclassError, match="8.6 or newer"):
        plan_build(V85, "fp16", version_compatible=True)


def test_unknown_precision_is_refused():
    with pytest.raises(EdgeclassError, match="unknown precision"):
        plan_build(V10, "bf16")


def test_onnx_kind_and_mismatched_source_is_refused():
    assert onnx_kind(["Conv", "QuantizeLinear", "DequantizeLinear"], [1]) == "int8"
    assert onnx_kind(["Conv", "Cast"], [10, 1]) == "fp16"
    assert onnx_kind(["Conv", "Relu"], [1, 1]) == "fp32"
    with pytest.raises(EdgeclassError, match="fp32 model.*model.fp16.onnx"):
        check_source_fits(plan_build(V11, "fp16"), "fp32", "w/model.onnx")
    check_source_fits(plan_build(V10, "fp16"), "fp32", "w/model.onnx")  # fine: weakly typed FP16


# -- shapes ----------------------------------------------------------------------------------


def test_default_profile_is_batch_1_to_8_tuned_for_1():
    s = profile_shapes(224)
    assert (s.min, s.opt, s.max) == ((1, 3, 224, 224), (1, 3, 224, 224), (8, 3, 224, 224))
    assert not s.static


def test_fixed_batch_and_ranges():
    assert profile_shapes(32, batch=4).batches == (4, 4, 4)
    assert profile_shapes(32, min_batch=2, max_batch=16).batches == (2, 2, 16)
    assert profile_shapes(32, opt_batch=4, max_batch=32).batches == (1, 4, 32)
    assert profile_shapes(32, min_batch=12).batches == (12, 12, 12)  # max follows a large min


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(batch=4, max_batch=8), "either --batch or"),
        (dict(min_batch=4, max_batch=2), "min <= opt <= max"),
        (dict(opt_batch=9, max_batch=8), "min <= opt <= max"),
        (dict(batch=0), "1 or more"),
    ],
)
def test_bad_batch_options(kwargs, message):
    with pytest.raises(EdgeclassError, match=message):
        profile_shapes(32, **kwargs)


def test_fixed_batch_onnx_forces_a_static_profile():
    assert profile_shapes(32, onnx_batch=1).batches == (1, 1, 1)
    assert profile_shapes(32, batch=1, onnx_batch=1).batches == (1, 1, 1)
    with pytest.raises(EdgeclassError, match="fixed batch of 1"):
        profile_shapes(32, max_batch=8, onnx_batch=1)


def test_input_shape_must_match_the_card():
    assert check_input_shape(["batch", 3, 32, 32], card(32), "m.onnx") is None
    assert check_input_shape([1, 3, 32, 32], card(32), "m.onnx") == 1
    with pytest.raises(EdgeclassError, match="height is 64 but the model card says 32"):
        check_input_shape([-1, 3, 64, 64], card(32), "m.onnx")


# -- file names and caches -------------------------------------------------------------------


def test_engine_sidecar_and_cache_names(tmp_path):
    e = engine_path(tmp_path, "fp16")
    assert e == tmp_path / "model.fp16.engine"
    assert engine_path(tmp_path, "int8", dla_core=1).name == "model.int8.dla1.engine"
    assert sidecar_path(e) == tmp_path / "model.fp16.engine.json"
    assert timing_cache_path(tmp_path, V10, "8.7").name == "timing.trt10.3.0.sm87.cache"
    assert timing_cache_path(tmp_path, V86, "8.7") != timing_cache_path(tmp_path, V10, "8.7")
    assert calibration_cache_path(tmp_path).name == "calibration.cache"  # what `edgeclass calibrate` writes


def test_calibration_cache_is_reused_only_from_the_same_tensorrt_and_calibrator():
    assert trt_cache.header(TrtVersion.parse("8.6.1").code, trt_cache.MINMAX) == "TRT-8601-MinMaxCalibration"
    cache10 = b"TRT-100300-EntropyCalibration2\nimages: 3c010a14\nlogits: 3d8e3f2a\n"
    assert trt_cache.matches(cache10, V10.code) and trt_cache.matches(cache10, V10.code, trt_cache.ENTROPY)
    assert not trt_cache.matches(cache10, V10.code, trt_cache.MINMAX)
    assert not trt_cache.matches(cache10, V86.code)
    assert not trt_cache.matches(cache10, TrtVersion.parse("10.4.0").code)
    assert not trt_cache.matches(b"", V10.code)
    assert not trt_cache.matches(None, V10.code)
    assert trt_cache.tensor_names(cache10) == ["images", "logits"]


def test_calibration_cache_decision_names_the_calibrator_and_checks_coverage():
    """Defect 9: the calibrator is the one the cache header names (max calibration without one), and
    a cache that misses network tensors is recalibrated when images are there."""
    from edgeclass.engine.calibrator import cache_decision

    cache = b"TRT-8602-MinMaxCalibration\nimages: 3c010a14\nconv: 3c010a14\n"
    full = cache_decision(cache, V86, ["images", "conv"], images_available=True)
    assert (full.algorithm, full.reuse, full.to_dict()["calibrator"]) == ("MinMaxCalibration", True, "IInt8MinMaxCalibrator")
    gaps = cache_decision(cache, V86, ["images", "conv", "(Unnamed Layer* 3) [Shuffle]_output"], images_available=True)
    assert not gaps.reuse and gaps.missing == ["(Unnamed Layer* 3) [Shuffle]_output"] and "recalibrating" in gaps.note
    kept = cache_decision(cache, V86, ["images", "conv", "x"], images_available=False)
    assert kept.reuse and "1 network tensor(s) have no scale" in kept.note
    fresh = cache_decision(None, V10, ["images"], images_available=True)
    assert (fresh.algorithm, fresh.reuse) == ("MinMaxCalibration", False)
    assert cache_decision(b"TRT-8602-EntropyCalibration2\nimages: 3c010a14\n", V86, ["images"], True).algorithm == "EntropyCalibration2"
    with pytest.raises(EdgeclassError, match="needs the run's dataset.*--trt-cache 10.3.0"):
        cache_decision(cache, V10, ["images"], images_available=False)  # a cache for 8.6 on 10.3, no images


def test_resolve_source_names_the_command_that_makes_a_missing_onnx(tmp_path):
    (tmp_path / "weights").mkdir()
    with pytest.raises(EdgeclassError, match="edgeclass calibrate"):
        resolve_source(tmp_path, plan_build(V10, "int8"))
    with pytest.raises(EdgeclassError, match="edgeclass export"):
        resolve_source(tmp_path, plan_build(V11, "fp16"))
    (tmp_path / "weights" / "model.onnx").write_bytes(b"x")
    assert resolve_source(tmp_path, plan_build(V10, "fp16")) == (tmp_path / "weights" / "model.onnx", tmp_path / "weights")


@pytest.mark.parametrize(
    "text, release",
    [
        ("# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64, DATE: Fri Sep 13 04:36:44 UTC 2024", "R36.4.0"),
        ("# R35 (release), REVISION: 3.1, GCID: 32827747, BOARD: t186ref, EABI: aarch64, DATE: Sun Mar 19 15:19:21 UTC 2023", "R35.3.1"),
        ("", None),
        ("not a tegra file", None),
    ],
)
def test_l4t_release(text, release):
    assert parse_l4t_release(text) == release


# -- sidecar and staleness -------------------------------------------------------------------


def sidecar(version=V10, gpu=ORIN, sha="a" * 64, plan=None, **kw):
    plan = plan or plan_build(version, "fp16")
    return make_sidecar(card(), plan, profile_shapes(32), gpu, "/runs/x/weights/model.onnx", sha, 12.345, l4t="R36.4.0", **kw)


def test_sidecar_holds_what_using_and_checking_the_engine_needs():
    s = json.loads(json.dumps(sidecar(workspace_gib=2.0)))  # JSON-serialisable as written
    assert s["format"] == SIDECAR_FORMAT
    assert ModelCard.from_dict(s["card"]).classes == ["alice", "bob", "carol"]
    assert s["card"]["precision"] == "fp16" and s["precision"] == "fp16"
    assert s["card"]["provenance"]["parent_sha256"] == "a" * 64
    assert s["tensorrt"] == "10.3.0"
    assert s["gpu"] == {"name": "Orin", "compute_capability": "8.7"}
    assert s["l4t"] == "R36.4.0"
    assert s["source_onnx"] == {"file": "model.onnx", "sha256": "a" * 64}
    assert s["input"]["name"] == "images" and s["input"]["max"] == [8, 3, 32, 32]
    assert s["output"]["classes"] == 3
    assert s["build"]["builder_flags"] == ["FP16"] and s["build"]["workspace_gib"] == 2.0
    assert s["build_seconds"] == 12.35 and s["built_at"]
    assert check_sidecar(s, "x.json") is s


def test_sidecar_validation():
    with pytest.raises(EdgeclassError, match="not an edgeclass engine sidecar"):
        check_sidecar({"format": "other"}, "x.json")
    broken = sidecar()
    del broken["gpu"]
    with pytest.raises(EdgeclassError, match="lacks 'gpu'"):
        check_sidecar(broken, "x.json")


def test_fresh_engine_is_not_stale():
    assert not staleness(sidecar(), V10, ORIN, "a" * 64).stale


def test_tensorrt_version_change_is_stale():
    v = staleness(sidecar(version=V86), V10, ORIN, "a" * 64)
    assert v.stale and "built with TensorRT 8.6.2, this is TensorRT 10.3.0" in v.reasons[0]


def test_gpu_change_is_stale():
    v = staleness(sidecar(), V10, GpuInfo("NVIDIA GeForce RTX 4090", "8.9"), "a" * 64)
    assert v.stale and "sm_87" in v.reasons[0] and "sm_89" in v.reasons[0]
    same_arch = staleness(sidecar(gpu=GpuInfo("NVIDIA GeForce RTX 3080", "8.6")), V10, GpuInfo("NVIDIA GeForce RTX 3090", "8.6"))
    assert same_arch.stale and "RTX 3080" in same_arch.reasons[0]


def test_changed_onnx_is_stale_and_absent_onnx_is_not_checked():
    v = staleness(sidecar(), V10, ORIN, "b" * 64)
    assert v.stale and "model.onnx changed" in v.reasons[0]
    assert not staleness(sidecar(), V10, ORIN, None).stale


def test_missing_sidecar_is_stale():
    v = staleness(None, V10, ORIN)
    assert v.stale and "sidecar" in v.reasons[0]


def test_all_reasons_are_reported_together_on_one_line():
    v = staleness(sidecar(version=V86), V10, GpuInfo("Xavier", "7.2"), "b" * 64)
    assert len(v.reasons) == 3
    msg = v.message("runs/x/weights/model.fp16.engine", "edgeclass engine runs/x/weights --precision fp16")
    assert "\n" not in msg and "`edgeclass engine runs/x/weights --precision fp16`" in msg and "--rebuild-stale" in msg


def test_version_compatible_engine_survives_a_later_runtime_only():
    plan = plan_build(V86, "fp16", version_compatible=True)
    s = sidecar(version=V86, plan=plan)
    assert not staleness(s, TrtVersion.parse("8.6.4"), ORIN).stale
    assert not staleness(s, V10, ORIN).stale
    assert staleness(s, TrtVersion.parse("8.6.1"), ORIN).stale  # older runtime


def test_deserialisation_failure_gets_the_same_treatment():
    v = deserialize_failure_verdict()
    assert v.stale and "could not deserialise" in v.message("m.engine", "edgeclass engine w --precision fp16")


# -- commands --------------------------------------------------------------------------------


def test_rebuild_command_reproduces_the_recorded_options():
    plan = plan_build(V86, "int8", dla_core=0, version_compatible=True)
    s = sidecar(version=V86, plan=plan, workspace_gib=1.5)
    cmd = rebuild_command("runs/x/weights", s)
    assert shlex.split(cmd) == [
        "edgeclass", "engine", "runs/x/weights", "--precision", "int8", "--min-batch", "1", "--opt-batch", "1",
        "--max-batch", "8", "--workspace", "1.5", "--dla-core", "0", "--version-compatible", "--calibrator",
    ]  # DLA int8 is built by the implicit calibrator
    static = make_sidecar(card(), plan_build(V10, "fp16"), profile_shapes(32, batch=4), ORIN, "model.onnx", "a" * 64, 1.0)
    assert "--batch 4" in rebuild_command("w", static)
    assert rebuild_command("my dir", None, "int8") == "edgeclass engine 'my dir' --precision int8"


def test_trtexec_line_for_a_static_onnx_has_no_shape_flags_and_dla_has_equal_ones():
    """Defect 4: trtexec refuses shape flags for a static model."""
    static = profile_shapes(64, onnx_batch=4)
    assert trtexec_shape_args(static, "images", onnx_batch=4) == []
    line = shlex.split(trtexec_command(plan_build(V86, "fp16"), "m.onnx", "e", static, onnx_batch=4))
    assert not [a for a in line if "Shapes=" in a]
    dynamic = profile_shapes(64)
    assert trtexec_shape_args(dynamic, "images", onnx_batch=None) == [
        "--minShapes=images:1x3x64x64", "--optShapes=images:1x3x64x64", "--maxShapes=images:8x3x64x64"]
    from edgeclass.engine.dla import dla_shapes

    dla = shlex.split(trtexec_command(plan_build(V86, "fp16", dla_core=0), "m.onnx", "e", dla_shapes(dynamic, False)))
    shape_args = [a for a in dla if "Shapes=" in a]
    assert len(shape_args) == 3 and {a.split(":", 1)[1] for a in shape_args} == {"1x3x64x64"}


def test_trtexec_calib_needs_an_entropy_cache():
    from edgeclass.engine.trtexec import calib_args

    assert calib_args("w/c.cache", "EntropyCalibration2") == ["--calib=w/c.cache"]
    with pytest.raises(EdgeclassError, match="--method entropy --trt-cache"):
        calib_args("w/c.cache", "MinMaxCalibration")


def test_trtexec_command_per_version():
    shapes = profile_shapes(32)
    c86 = shlex.split(trtexec_command(plan_build(V86, "fp16"), "w/model.onnx", "w/model.fp16.engine", shapes))
    assert c86[:3] == ["trtexec", "--onnx=w/model.onnx", "--saveEngine=w/model.fp16.engine"]
    assert "--minShapes=images:1x3x32x32" in c86 and "--optShapes=images:1x3x32x32" in c86
    assert "--maxShapes=images:8x3x32x32" in c86
    assert "--fp16" in c86 and "--stronglyTyped" not in c86

    q86 = shlex.split(trtexec_command(plan_build(V86, "int8"), "w/model.int8.onnx", "e", shapes))
    assert "--int8" in q86 and "--fp16" in q86
    q10 = shlex.split(trtexec_command(plan_build(V10, "int8"), "w/model.int8-fp16.onnx", "e", shapes))
    assert "--stronglyTyped" in q10 and "--int8" not in q10
    h11 = shlex.split(trtexec_command(plan_build(V11, "fp16"), "w/model.fp16.onnx", "e", shapes))
    assert not {"--fp16", "--int8", "--stronglyTyped"} & set(h11)  # removed / always on in 11


def test_trtexec_options():
    shapes = profile_shapes(224, batch=1)
    plan = plan_build(V10, "fp16", dla_core=0, version_compatible=True)
    c = shlex.split(trtexec_command(plan, "m.onnx", "m.engine", shapes, workspace_gib=2, timing_cache="t.cache",
                                      trtexec="/usr/src/tensorrt/bin/trtexec"))
    assert c[0] == "/usr/src/tensorrt/bin/trtexec"
    assert "--memPoolSize=workspace:2048" in c and "--timingCacheFile=t.cache" in c
    assert "--useDLACore=0" in c and "--allowGPUFallback" in c and "--versionCompatible" in c
    assert c[-1] == "--profilingVerbosity=detailed" and not [a for a in c if a.startswith("--device")]
    assert "--device=1" in trtexec_command(plan_build(V10, "fp16", device=1), "m.onnx", "e", shapes)
    cal = plan_build(V86, "int8", calibrator=True)
    assert "--calib=w/c.cache" in trtexec_command(cal, "m.onnx", "e", shapes, calibration_cache="w/c.cache")
    with pytest.raises(EdgeclassError, match="calibration cache"):
        trtexec_command(cal, "m.onnx", "e", shapes)


# -- rebuilds, devices, identity, setup ------------------------------------------------------


def test_rebuild_takes_the_running_versions_timing_cache_unless_the_user_chose_one(tmp_path):
    """Defect 5."""
    weights = tmp_path / "weights"
    plan = plan_build(V86, "fp16")
    built = make_sidecar(card(), plan, profile_shapes(32), ORIN, "model.onnx", "a" * 64, 1.0,
                         timing_cache=str(weights / "timing.trt8.6.2.sm87.cache"))
    request = request_from_sidecar(built, "fp16")
    assert request.timing_cache is None  # the default one: named for 8.6.2
    cache = build_timing_cache(request.timing_cache, weights, V10, "8.7")
    assert cache == (weights / "timing.trt10.3.0.sm87.cache").resolve() and cache.is_absolute()
    chosen = make_sidecar(card(), plan, profile_shapes(32), ORIN, "model.onnx", "a" * 64, 1.0,
                          timing_cache="caches/t.cache", timing_cache_chosen=True)
    request = request_from_sidecar(chosen, "fp16")
    assert request.timing_cache == "caches/t.cache"
    assert build_timing_cache(request.timing_cache, weights, V10, "8.7") == (weights / "caches/t.cache").resolve()
    assert "--timing-cache caches/t.cache" in request.command("w")


@pytest.mark.parametrize("given, index", [(0, 0), ("1", 1), ("cuda", 0), ("cuda:1", 1), (" cuda:3 ", 3)])
def test_device_option_plans_set_device(given, index):
    """Defect 6: ``--device cuda:1`` makes device 1 current (the plan carries it to the builder)."""
    from edgeclass.engine.cuda_choice import device_index
    from edgeclass.engine.plan import EngineRequest

    assert device_index(given) == index
    request = EngineRequest(device=given).validate()
    assert request.device == index and plan_build(V10, "fp16", device=request.device).device == index


@pytest.mark.parametrize("bad", ["gpu1", "cuda:-1", "-2", True])
def test_bad_device_is_a_one_line_error(bad):
    from edgeclass.engine.cuda_choice import device_index

    with pytest.raises(EdgeclassError, match="--device"):
        device_index(bad)


def test_cuda_python_newer_than_the_driver_falls_back_to_torch_with_a_note():
    from edgeclass.engine.cuda_choice import choose_cuda_backend

    assert choose_cuda_backend(12, 12060, torch_cuda=False) == ("cuda-python", "")
    kind, note = choose_cuda_backend(13, 12060, torch_cuda=True)
    assert kind == "torch" and "cuda-python 13.x needs a CUDA 13 driver" in note and "cuda-python>=12,<13" in note
    assert choose_cuda_backend(None, 11040, torch_cuda=True) == ("torch", "")  # JetPack 5 with NVIDIA's torch
    with pytest.raises(EdgeclassError, match=r"install 'cuda-python>=12,<13'"):
        choose_cuda_backend(13, 12060, torch_cuda=False)
    with pytest.raises(EdgeclassError, match="no CUDA driver"):
        choose_cuda_backend(13, 0, torch_cuda=False)


def test_setup_jetson_picks_cuda_python_per_cuda_major():
    """Defect 8: JetPack 6 (CUDA 12.x) gets cuda-python 12; JetPack 5 (CUDA 11.4) none (PyTorch's CUDA)."""
    from edgeclass.engine.cuda_choice import cuda_python_requirement, parse_cuda_version, setup_requirement

    assert parse_cuda_version('{"cuda": {"name": "CUDA SDK", "version": "12.6.68"}}') == "12.6"
    assert parse_cuda_version("CUDA Version 11.4.315") == "11.4"
    assert setup_requirement("12.6") == ("cuda-python>=12.6,<13", "")
    req, note = setup_requirement("11.4")
    assert req is None and "JetPack 5" in note and "PyTorch" in note
    assert cuda_python_requirement("11.4") == "cuda-python>=11.4,<12"
    assert setup_requirement(None)[0] is None


def test_agx_sidecar_is_stale_on_a_nano(tmp_path):
    """Defect 7: every Orin is sm_87 "Orin"; the board and the L4T release tell them apart."""
    from edgeclass.engine.identity import read_jetson_module, read_module_id

    (tmp_path / "model").write_bytes(b"NVIDIA Jetson Orin Nano Developer Kit\0")
    (tmp_path / "compatible").write_bytes(b"nvidia,p3768-0000+p3767-0005\0nvidia,p3767-0005\0nvidia,tegra234\0")
    nano = {"module": read_jetson_module(str(tmp_path / "model")), "module_id": read_module_id(str(tmp_path / "compatible")),
            "l4t": "R36.4.0", "dla_cores": 0}
    assert nano["module_id"] == "nvidia,p3768-0000+p3767-0005 nvidia,p3767-0005 nvidia,tegra234"
    host_agx = {"module": "NVIDIA Jetson AGX Orin Developer Kit", "module_id": "nvidia,p3737-0000+p3701-0005", "l4t": "R36.3.0"}
    agx = make_sidecar(card(), plan_build(V10, "fp16", dla_core=0), profile_shapes(32, batch=1), ORIN, "model.onnx", "a" * 64, 1.0,
                       host=host_agx)
    v = staleness(agx, V10, ORIN, "a" * 64, host=nano)
    assert any("AGX Orin" in r and "Orin Nano" in r for r in v.reasons)
    assert any("L4T R36.3.0, this is L4T R36.4.0" in r for r in v.reasons) and any("DLA core 0" in r for r in v.reasons)
    assert not staleness(agx, V10, ORIN, "a" * 64, host=dict(host_agx, dla_cores=2)).stale
    assert not staleness(agx, V10, ORIN, "a" * 64, host={}).stale  # nothing known about this host: not compared
    assert read_jetson_module(str(tmp_path / "absent")) is None


def test_jetpack_version_from_l4t():
    from edgeclass.engine.identity import jetpack_version

    assert jetpack_version(None) in (None,) or isinstance(jetpack_version(None), str)
    text = jetpack_version("R36.4.0")
    assert text is None or "6" in text


def test_setup_jetson_helper_reads_the_cuda_version_file(tmp_path):
    """What `make setup-jetson` runs: `python -m edgeclass.engine.cuda_choice` (stdout: the requirement)."""
    import subprocess
    import sys

    from edgeclass.engine.cuda_choice import read_cuda_version

    (tmp_path / "version.json").write_text('{"cuda": {"name": "CUDA SDK", "version": "12.6.68"}}')
    assert read_cuda_version([str(tmp_path / "absent"), str(tmp_path / "version.json")]) == "12.6"
    p = subprocess.run([sys.executable, "-m", "edgeclass.engine.cuda_choice"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0
    from pathlib import Path

    if not Path("/usr/local/cuda/version.json").is_file() and not Path("/usr/local/cuda/version.txt").is_file():
        assert p.stdout == "" and "CUDA version not found" in p.stderr  # this machine: no CUDA toolkit
    else:
        assert p.stdout.startswith("cuda-python>=") or "JetPack 5" in p.stderr
