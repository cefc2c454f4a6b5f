"""check_trt_friendly: each rule fires on its planted anti-pattern (planted into the lint-clean
TensorRT-placed ResNet-18) and stays quiet on the clean file; the rules table is complete."""

from __future__ import annotations

import pytest

from edgeclass.calibration.lint import RULES, RULES_BY_ID, check_trt_friendly, rules_table
from edgeclass.calibration.placement import _add_qdq
from edgeclass.calibration.qdq_graph import GraphIndex, residual_input


@pytest.fixture()
def clean(resnet18_qdq):
    import onnx

    model = onnx.load(str(resnet18_qdq["trt"]))
    assert check_trt_friendly(model, 17) == []
    return model


def plant_qdq(model, tensor: str, consumer) -> None:
    """Route ``consumer``'s input ``tensor`` through a new Q/DQ pair."""
    dq = _add_qdq(model, tensor, 1.0)
    consumer.input[list(consumer.input).index(tensor)] = dq


def rules_of(model, opset=17):
    return {f.rule for f in check_trt_friendly(model, opset)}


def test_qdq_between_conv_and_relu(clean):
    ix = GraphIndex.of(clean)
    relu = next(n for n in ix.nodes if n.op_type == "Relu" and ix.op_of(n.input[0]) == "Conv")
    conv = ix.producer[relu.input[0]].name
    plant_qdq(clean, relu.input[0], relu)
    findings = [f for f in check_trt_friendly(clean, 17) if f.rule == "conv-output-qdq-before-relu"]
    assert [f.node for f in findings] == [conv] and findings[0].severity == "error"


def test_both_add_inputs_quantized(clean):
    ix = GraphIndex.of(clean)
    add = next(n for n in ix.nodes if n.op_type == "Add")
    conv_branch = next(i for i in add.input if i != residual_input(ix, add))
    plant_qdq(clean, conv_branch, add)
    assert "add-both-inputs-quantized" in rules_of(clean)


def test_qdq_on_graph_output(clean):
    gemm = next(n for n in clean.graph.node if "logits" in n.output)
    gemm.output[0] = "logits_float"
    _add_qdq(clean, "logits_float", 10.0)
    clean.graph.node[-1].output[0] = "logits"  # the new DequantizeLinear writes the graph output
    assert GraphIndex.of(clean).op_of("logits") == "DequantizeLinear"
    assert "graph-output-quantized" in rules_of(clean)


def test_opset_above_the_target_parser(clean):
    clean.opset_import[0].version = 19
    assert rules_of(clean, 17) == {"opset-above-parser"}
    assert rules_of(clean, 20) == set()
    assert "opset-above-parser" not in {f.rule for f in check_trt_friendly(clean)}  # no target: not checked


def test_uint8_zero_points_of_the_cpu_file(resnet18_qdq):
    assert "asymmetric-or-unsigned-qdq" in {f.rule for f in check_trt_friendly(resnet18_qdq["cpu"], 17)}


def test_nonzero_int8_zero_point(clean):
    from onnx import numpy_helper
    import numpy as np

    zp = next(t for t in clean.graph.initializer if t.name.endswith("_zero_point") and t.data_type == 3)
    zp.CopyFrom(numpy_helper.from_array(np.array(3, dtype=np.int8), zp.name))
    assert "asymmetric-or-unsigned-qdq" in rules_of(clean)


def test_missing_zero_point_means_uint8(clean):
    q = next(n for n in clean.graph.node if n.op_type == "QuantizeLinear")
    del q.input[2]
    assert "asymmetric-or-unsigned-qdq" in rules_of(clean)


def test_fp16_scale_below_opset_19(clean):
    from onnx import TensorProto, numpy_helper
    import numpy as np

    ix = GraphIndex.of(clean)
    q = next(n for n in ix.nodes if n.op_type == "QuantizeLinear")
    scale = next(t for t in clean.graph.initializer if t.name == q.input[1])
    value = numpy_helper.to_array(scale).astype(np.float16)
    scale.CopyFrom(numpy_helper.from_array(value, scale.name))
    assert scale.data_type == TensorProto.FLOAT16
    assert "fp16-scale-before-opset19" in rules_of(clean)
    clean.opset_import[0].version = 19
    assert "fp16-scale-before-opset19" not in rules_of(clean, 20)


def test_quantized_matrix_vector_gemm_is_a_warning(clean):
    fc = next(n for n in clean.graph.node if n.op_type == "Gemm")
    plant_qdq(clean, fc.input[0], fc)
    findings = [f for f in check_trt_friendly(clean, 17) if f.rule == "matrix-vector-gemm-quantized"]
    assert [f.node for f in findings] == [fc.name] and findings[0].severity == "warning"


def test_a_path_works_like_a_model(resnet18_qdq):
    assert check_trt_friendly(resnet18_qdq["trt"], 17) == []


def test_unreadable_file_is_a_one_line_error(tmp_path):
    from edgeclass.errors import EdgeclassError

    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(EdgeclassError, match="not a readable ONNX model"):
        check_trt_friendly(bad)


def test_rules_are_data_with_a_reason_and_a_source():
    from edgeclass.calibration.lint import CHECKS

    assert len(RULES_BY_ID) == len(RULES) and set(CHECKS) == set(RULES_BY_ID)
    for rule in RULES:
        assert rule.severity in ("error", "warning") and rule.detects and rule.reason and rule.source
    table = rules_table()
    assert all(f"`{r.id}`" in table for r in RULES)
