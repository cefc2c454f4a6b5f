"""The opsets `edgeclass export --opset` accepts are the ones this torch's exporters write."""

from edgeclass.export.opsets import DEFAULT_OPSET, LEGACY_MAX_OPSET, MAX_OPSET, MIN_OPSET


def test_the_opset_range_matches_torchs_exporters():
    from torch.onnx import _constants

    assert MIN_OPSET <= DEFAULT_OPSET <= LEGACY_MAX_OPSET < MAX_OPSET
    assert LEGACY_MAX_OPSET <= _constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET
    assert MAX_OPSET <= _constants.ONNX_MAX_OPSET
