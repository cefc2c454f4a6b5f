"""model.int8.onnx is placed by TensorRT's rules: Q/DQ on conv/GEMM inputs and weights, on the
residual input of each Add only, never on a conv output before its ReLU, the fc (a matrix-vector
GEMM) and the logits float. Counted node by node on a real ResNet-18 export and on the demo model
as `edgeclass calibrate` writes it; ModelOpt's opset-19 fp16 file where ModelOpt is installed."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgeclass.calibration.lint import check_trt_friendly
from edgeclass.calibration.qdq_graph import GraphIndex, residual_input


def load(path):
    import onnx

    return onnx.load(str(path))


def placement_counts(model) -> dict:
    ix = GraphIndex.of(model)
    convs = [n for n in ix.nodes if n.op_type == "Conv"]
    adds = [n for n in ix.nodes if n.op_type == "Add"]
    gemms = [n for n in ix.nodes if n.op_type == "Gemm"]
    return {
        "convs": len(convs),
        "conv_inputs_quantized": sum(ix.is_dequantized(n.input[0]) for n in convs),
        "conv_weights_quantized": sum(ix.is_dequantized(n.input[1]) for n in convs),
        "conv_outputs_quantized": sorted(n.name for n in convs if ix.quantized_copies(n.output[0])),
        "conv_outputs_into_relu_quantized": sum(
            any(c.op_type == "Relu" for q in ix.quantized_copies(n.output[0]) for c in ix.consumers.get(q, [])) for n in convs),
        "adds": len(adds),
        "adds_both_quantized": sum(all(ix.is_dequantized(i) for i in n.input) for n in adds),
        "adds_residual_only": sum(
            [ix.is_dequantized(i) for i in n.input] == [i == residual_input(ix, n) for i in n.input] for n in adds),
        "add_outputs_quantized": sum(bool(ix.quantized_copies(n.output[0])) for n in adds),
        "gemm_inputs_quantized": sum(ix.is_dequantized(i) for n in gemms for i in n.input),
        "logits_quantized": ix.op_of("logits") in ("QuantizeLinear", "DequantizeLinear"),
    }


def test_resnet18_tensorrt_placement_node_counts(resnet18_qdq):
    model = load(resnet18_qdq["trt"])
    c = placement_counts(model)
    assert c["convs"] == 20 and c["conv_inputs_quantized"] == 20 and c["conv_weights_quantized"] == 20
    # the only quantized conv outputs are the 3 downsample convs: the residual inputs of their Adds
    assert len(c["conv_outputs_quantized"]) == 3 and all("downsample" in n for n in c["conv_outputs_quantized"])
    assert c["conv_outputs_into_relu_quantized"] == 0
    assert c["adds"] == 8 and c["adds_both_quantized"] == 0 and c["adds_residual_only"] == 8
    assert c["add_outputs_quantized"] == 0
    assert c["gemm_inputs_quantized"] == 0 and not c["logits_quantized"]  # fc and logits float
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) == 17
    assert check_trt_friendly(model, target_parser_opset=17) == []


def test_onnxruntime_default_placement_is_what_tensorrt_should_not_get(resnet18_qdq):
    """The placement model.int8.onnx had before (ONNX Runtime's default): every conv output, both
    inputs of every Add, the fc and the logits quantized — and the lint says so."""
    c = placement_counts(load(resnet18_qdq["ort"]))
    assert len(c["conv_outputs_quantized"]) == 20 and c["conv_outputs_into_relu_quantized"] == 9
    assert c["adds_both_quantized"] == 8 and c["logits_quantized"]
    rules = {f.rule for f in check_trt_friendly(resnet18_qdq["ort"], 17)}
    assert {"conv-output-qdq-before-relu", "add-both-inputs-quantized", "graph-output-quantized"} <= rules


def test_tensorrt_placement_runs_in_onnxruntime_close_to_fp32(resnet18_qdq):
    from edgeclass.calibration.evaluate import relative_logit_error
    from edgeclass.inference import onnx_logits

    x = resnet18_qdq["images"][:16]
    ref = onnx_logits(resnet18_qdq["fp32"], x)
    trt = relative_logit_error(ref, onnx_logits(resnet18_qdq["trt"], x))
    ort = relative_logit_error(ref, onnx_logits(resnet18_qdq["ort"], x))
    assert np.isfinite(trt) and trt < 0.05
    assert trt < ort  # fewer requantizations, float logits: closer to fp32 on the calibration images


def test_sensitivity_probe_quantizes_one_layer_and_no_residuals(resnet18_qdq, tmp_path):
    from edgeclass.calibration.quantize import TENSORRT, quantize

    probe = quantize(resnet18_qdq["fp32"], tmp_path / "probe.onnx", TENSORRT, resnet18_qdq["ranges"], "minmax",
                     only=["/net/layer2/layer2.0/conv1/Conv"])
    ix = GraphIndex.of(load(probe))
    quantized = [n.name for n in ix.nodes if n.op_type == "Conv" and ix.is_dequantized(n.input[1])]
    assert quantized == ["/net/layer2/layer2.0/conv1/Conv"]
    assert not any(ix.is_dequantized(i) for n in ix.nodes if n.op_type == "Add" for i in n.input)


def test_excluded_layer_stays_float(resnet18_qdq, tmp_path):
    from edgeclass.calibration.quantize import TENSORRT, quantize

    out = quantize(resnet18_qdq["fp32"], tmp_path / "x.onnx", TENSORRT, resnet18_qdq["ranges"], "minmax",
                   exclude=["/net/conv1/Conv"])
    ix = GraphIndex.of(load(out))
    conv1 = next(n for n in ix.nodes if n.name == "/net/conv1/Conv")
    assert not ix.is_dequantized(conv1.input[0]) and not ix.is_dequantized(conv1.input[1])
    assert sum(ix.is_dequantized(n.input[1]) for n in ix.nodes if n.op_type == "Conv") == 19
    assert check_trt_friendly(out, 17) == []


def card_quantization(path) -> dict:
    model = load(path)
    card = json.loads(next(p.value for p in model.metadata_props if p.key == "edgeclass.model_card"))
    return card["provenance"]["quantization"]


def test_calibrate_writes_a_lint_clean_tensorrt_file_for_the_demo_model(calibrated_run):
    path = calibrated_run / "weights" / "model.int8.onnx"
    c = placement_counts(load(path))
    assert c["convs"] == 2 and c["conv_inputs_quantized"] == 2 and c["conv_weights_quantized"] == 2
    assert c["conv_outputs_quantized"] == [] and c["gemm_inputs_quantized"] == 0 and not c["logits_quantized"]
    assert check_trt_friendly(path, 17) == []
    q = card_quantization(path)
    assert q["placement"] == "tensorrt-qdq-opset17" and q["opset"] == 17 and q["high_precision"] == "fp32"
    report = json.loads((calibrated_run / "weights" / "calibration.json").read_text())
    by_name = {m["name"]: m for m in report["models"]}
    assert by_name["int8"]["lint"] == [] and by_name["int8"]["placement"] == "tensorrt-qdq-opset17"
    assert by_name["int8-cpu"]["lint"] is None and by_name["int8-cpu"]["placement"] == "onnxruntime-default-u8s8"


def test_calibrate_writes_modelopt_fp16_file_where_modelopt_is_installed(calibrated_run):
    from edgeclass.calibration.modelopt_ptq import modelopt_version

    if modelopt_version() is None:
        pytest.skip("nvidia-modelopt is not installed (pip install 'edgeclass[modelopt]'): no model.int8-fp16.onnx to check")
    from onnx import TensorProto

    path = calibrated_run / "weights" / "model.int8-fp16.onnx"
    model = load(path)
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) == 19
    assert any(t.data_type == TensorProto.FLOAT16 for t in model.graph.initializer)
    io_types = {v.type.tensor_type.elem_type for v in list(model.graph.input) + list(model.graph.output)}
    assert io_types == {TensorProto.FLOAT}  # fp32 in and out, fp16 inside
    c = placement_counts(model)
    assert c["conv_inputs_quantized"] == 2 and c["conv_outputs_quantized"] == [] and not c["logits_quantized"]
    assert check_trt_friendly(model, 20) == []
    assert [f.rule for f in check_trt_friendly(model, 17)] == ["opset-above-parser"]
    q = card_quantization(path)
    assert q["placement"].startswith("modelopt-") and q["placement"].endswith("-opset19") and q["high_precision"] == "fp16"
    report = json.loads((calibrated_run / "weights" / "calibration.json").read_text())
    fp16 = next(m for m in report["models"] if m["name"] == "int8-fp16")
    assert fp16["lint"] == [] and fp16["passed"]


def test_the_modelopt_file_is_a_format_table_row_that_eval_and_bench_read(calibrated_run, monkeypatch):
    """onnx-int8-fp16: its file name, made by calibrate, loaded by ONNX Runtime, a bench row; read by
    the engine planner as the strongly typed INT8 source (engine.source.onnx_kind -> int8-fp16)."""
    import numpy as np

    from edgeclass.artifacts import formats, read_card
    from edgeclass.engine.source import read_onnx_info
    from edgeclass.runtime.backends import load_backend
    from edgeclass.tools import bench_build

    fmt = formats.get("onnx-int8-fp16")
    assert (fmt.file_name, fmt.made_by, fmt.backend) == ("model.int8-fp16.onnx", "calibrate", "onnxruntime")
    assert fmt in formats.BENCHED and formats.of_precision(".onnx", "int8").key == "onnx-int8"
    path = calibrated_run / "weights" / fmt.file_name
    if not path.is_file():
        pytest.skip("nvidia-modelopt is not installed: calibrate wrote no model.int8-fp16.onnx")
    assert read_card(path).precision == "int8" and read_onnx_info(path).kind == "int8-fp16"
    with load_backend(path) as backend:
        assert backend.predict(np.zeros((2, 3, 32, 32), np.float32)).shape == (2, 10)
    assert bench_build.format_skip_reason(fmt) == ""
    monkeypatch.setattr("edgeclass.calibration.modelopt_ptq.modelopt_version", lambda: None)
    assert "ModelOpt is not installed" in bench_build.format_skip_reason(fmt)
