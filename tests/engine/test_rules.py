"""The planned fixes for issue 14's defects 3-10 (edgeclass.engine.rules, to move into engine/ in
phase 2): trtexec shape flags for a static ONNX, DLA's static profile and implicit INT8, the
rebuild's timing cache, the CUDA device and cuda-python vs the driver, Jetson module identity,
the INT8 source per TensorRT version, TF32 for fp32, and the calibration cache header."""

from __future__ import annotations

import pytest

from edgeclass.engine import rules
from edgeclass.errors import EdgeclassError
from edgeclass.engine.plan import TrtVersion
from edgeclass.engine.shapes import profile_shapes


def test_static_onnx_gets_no_shape_flags_and_dynamic_gets_all_three():
    static = profile_shapes(64, onnx_batch=4)
    assert rules.trtexec_shape_args(static, "images", onnx_batch=4) == []
    dynamic = profile_shapes(64)
    assert rules.trtexec_shape_args(dynamic, "images", onnx_batch=None) == [
        "--minShapes=images:1x3x64x64", "--optShapes=images:1x3x64x64", "--maxShapes=images:8x3x64x64"]


def test_dla_forces_equal_shapes_and_implicit_int8():
    ranged = profile_shapes(64, min_batch=1, opt_batch=2, max_batch=8)
    plan = rules.plan_dla(TrtVersion(10, 3), "int8", ranged, calibrator=False, range_given=False)
    assert plan.shapes.static and plan.shapes.batches == (2, 2, 2) and plan.calibrator
    lines = rules.trtexec_shape_args(plan.shapes, "images", None)
    assert len({line.split(":", 1)[1] for line in lines}) == 1  # min = opt = max
    with pytest.raises(EdgeclassError, match="use --batch N"):
        rules.plan_dla(TrtVersion(10, 3), "fp16", ranged, calibrator=False, range_given=True)
    fp16 = rules.plan_dla(TrtVersion(8, 5, 2), "fp16", ranged, calibrator=False, range_given=False)
    assert not fp16.calibrator
    with pytest.raises(EdgeclassError, match="no implicit INT8 calibration"):
        rules.plan_dla(TrtVersion(11, 4, 1), "int8", ranged, calibrator=False, range_given=False)


def test_dla_placement_lists_the_gpu_fallback_layers():
    report = rules.dla_placement(["conv1", "relu1", "fc"], [True, True, False])
    assert report == {"dla_layers": 2, "gpu_layers": 1, "gpu_fallback": ["fc"]}


def test_rebuild_uses_the_running_versions_timing_cache(tmp_path):
    weights = tmp_path / "weights"
    old = str(weights / "timing.trt8.6.2.sm87.cache")
    new = rules.rebuild_timing_cache(old, user_chosen=False, weights_dir=weights, version=TrtVersion(10, 3), cc="8.7")
    assert new.name == "timing.trt10.3.0.sm87.cache" and new.is_absolute()
    chosen = rules.rebuild_timing_cache("caches/t.cache", user_chosen=True, weights_dir=weights, version=TrtVersion(10, 3), cc="8.7")
    assert chosen == weights / "caches/t.cache"


@pytest.mark.parametrize("given, index", [(0, 0), ("1", 1), ("cuda", 0), ("cuda:1", 1), (" cuda:3 ", 3)])
def test_device_plans_set_device(given, index):
    assert rules.device_index(given) == index


def test_bad_device_is_a_one_line_error():
    with pytest.raises(EdgeclassError, match="CUDA device index"):
        rules.device_index("gpu1")


def test_cuda_python_newer_than_the_driver_falls_back_or_says_what_to_install():
    assert rules.choose_cuda_backend(12, 12060, torch_cuda=False) == "cuda-python"
    assert rules.choose_cuda_backend(13, 12060, torch_cuda=True) == "torch"
    with pytest.raises(EdgeclassError, match=r"cuda-python>=12,<13"):
        rules.choose_cuda_backend(13, 12060, torch_cuda=False)
    assert rules.cuda_python_requirement("11.4") == "cuda-python>=11.4,<12"  # JetPack 5
    assert rules.cuda_python_requirement("12.6") == "cuda-python>=12.6,<13"  # JetPack 6.1 / 6.2


def test_agx_sidecar_is_stale_on_a_nano(tmp_path):
    model = tmp_path / "model"
    model.write_bytes(b"NVIDIA Jetson Orin Nano Developer Kit\0")
    running = {"module": rules.read_jetson_module(str(model)), "l4t": "R36.4.0", "dla_cores": 0}
    built = {"module": "NVIDIA Jetson AGX Orin Developer Kit", "l4t": "R36.3.0", "dla_core": 0}
    reasons = rules.identity_stale_reasons(built, running)
    assert any("AGX Orin" in r and "Orin Nano" in r for r in reasons)
    assert any("L4T R36.3.0" in r for r in reasons) and any("DLA core 0" in r for r in reasons)
    assert rules.identity_stale_reasons(built, dict(built, dla_cores=2)) == []
    assert rules.read_jetson_module(str(tmp_path / "absent")) is None


def test_int8_source_per_version():
    both = ["model.int8.onnx", "model.int8-fp16.onnx"]
    assert rules.int8_source(TrtVersion(8, 6, 2), both) == ("model.int8.onnx", ("INT8", "FP16"))
    assert rules.int8_source(TrtVersion(10, 3), both) == ("model.int8-fp16.onnx", ())
    assert rules.int8_source(TrtVersion(10, 3), ["model.int8.onnx"]) == ("model.int8.onnx", ("INT8", "FP16"))
    with pytest.raises(EdgeclassError, match="model.int8-fp16.onnx"):
        rules.int8_source(TrtVersion(11, 0), ["model.int8.onnx"])


def test_tf32_is_off_only_for_fp32():
    assert not rules.tf32_allowed("fp32") and rules.tf32_allowed("fp16") and rules.tf32_allowed("int8")


def test_calibration_cache_header_names_the_calibrator():
    assert rules.calibration_cache_header(TrtVersion(8, 6, 1), "minmax") == "TRT-8601-MinMaxCalibration"
    assert rules.calibration_cache_header(TrtVersion(10, 3), "entropy") == "TRT-100300-EntropyCalibration2"
    with pytest.raises(EdgeclassError, match="percentile"):
        rules.calibration_cache_header(TrtVersion(10, 3), "percentile")
