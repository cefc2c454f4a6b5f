"""`edgeclass engine` and jetson-check on real ONNX files, on a machine without TensorRT.

What runs here: the "no TensorRT" message (a real subprocess), `--print-trtexec` on the exporter's
real ONNX, source checks against the real ONNX contents, and the jetson-check report with ONNX
Runtime. Building and running engines is in tests/engine/test_hardware.py (needs TensorRT + a CUDA GPU).
"""

from __future__ import annotations

import importlib.util
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from edgeclass.cli import cli
from edgeclass.spec import ModelCard, Preprocess
from edgeclass.engine.source import check_input_shape, read_onnx_info
from edgeclass.tools import jetson_report as jr

HAS_TENSORRT = importlib.util.find_spec("tensorrt") is not None
EDGECLASS = str(Path(sys.executable).with_name("edgeclass"))


def run_cli(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


@pytest.mark.skipif(HAS_TENSORRT, reason="tensorrt is installed here, so the 'no TensorRT' path cannot be shown")
def test_engine_without_tensorrt_exits_2_with_one_line(exported_run):
    p = subprocess.run([EDGECLASS, "engine", str(exported_run), "--precision", "fp16"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert lines[0].startswith("error: TensorRT is not installed")
    assert "JetPack" in lines[0] and "pip install tensorrt" in lines[0] and "--print-trtexec" in lines[0]
    assert "Traceback" not in p.stderr and not (exported_run / "weights" / "model.fp16.engine").exists()


def test_print_trtexec_works_without_tensorrt(exported_run):
    r = run_cli("engine", str(exported_run), "--precision", "fp16", "--max-batch", "16", "--print-trtexec", "--trt-version", "10.3")
    assert r.exit_code == 0, r.output
    args = shlex.split(r.output.strip())
    weights = exported_run / "weights"
    assert args[0].endswith("trtexec")
    assert f"--onnx={weights / 'model.onnx'}" in args
    assert f"--saveEngine={weights / 'model.fp16.engine'}" in args
    assert "--minShapes=images:1x3x32x32" in args and "--maxShapes=images:16x3x32x32" in args
    assert "--fp16" in args


def test_print_trtexec_on_tensorrt_11_uses_the_fp16_onnx(exported_run):
    r = run_cli("engine", str(exported_run), "--precision", "fp16", "--print-trtexec", "--trt-version", "11.0")
    assert r.exit_code == 0, r.output
    args = shlex.split(r.output.strip())
    assert f"--onnx={exported_run / 'weights' / 'model.fp16.onnx'}" in args and "--fp16" not in args


def test_print_trtexec_takes_an_onnx_file_and_a_fixed_batch(exported_run):
    onnx = exported_run / "weights" / "model.onnx"
    r = run_cli("engine", str(onnx), "--precision", "fp32", "--batch", "4", "--workspace", "1", "--print-trtexec", "--trt-version", "8.6.2")
    assert r.exit_code == 0, r.output
    args = shlex.split(r.output.strip())
    assert "--minShapes=images:4x3x32x32" in args and "--maxShapes=images:4x3x32x32" in args
    assert "--memPoolSize=workspace:1024" in args and "--fp16" not in args


def test_print_trtexec_for_a_static_onnx_has_no_shape_flags(exported_run, tmp_path):
    """trtexec refuses --minShapes/--optShapes/--maxShapes for a model whose batch is fixed."""
    out = tmp_path / "static"
    r = run_cli("export", str(exported_run), "--batch", "2", "--formats", "onnx", "--out", str(out), "--parity-images", "0")
    assert r.exit_code == 0, r.output
    r = run_cli("engine", str(out / "model.onnx"), "--precision", "fp16", "--print-trtexec", "--trt-version", "10.3")
    assert r.exit_code == 0, r.output
    args = shlex.split(r.output.strip())
    assert not [a for a in args if "Shapes=" in a] and "--fp16" in args


def test_print_trtexec_for_dla_has_equal_shapes_and_device_1(exported_run):
    r = run_cli("engine", str(exported_run), "--precision", "fp16", "--dla-core", "0", "--device", "cuda:1", "--print-trtexec",
                "--trt-version", "10.3")
    assert r.exit_code == 0, r.output
    args = shlex.split(r.output.strip())
    shapes = {a.split(":", 1)[1] for a in args if "Shapes=" in a}
    assert shapes == {"1x3x32x32"} and "--useDLACore=0" in args and "--device=1" in args
    assert f"--saveEngine={exported_run / 'weights' / 'model.fp16.dla0.engine'}" in args


def test_print_trtexec_picks_the_int8_file_per_version(calibrated_run):
    weights = calibrated_run / "weights"
    for version, source, flags in (("8.6.2", "model.int8.onnx", {"--int8", "--fp16"}), ("10.3", "model.int8-fp16.onnx", {"--stronglyTyped"}),
                                   ("11.0", "model.int8-fp16.onnx", set())):
        r = run_cli("engine", str(calibrated_run), "--precision", "int8", "--print-trtexec", "--trt-version", version)
        assert r.exit_code == 0, r.output
        args = set(shlex.split(r.output.strip().splitlines()[0]))
        assert f"--onnx={weights / source}" in args and flags <= args and not ({"--int8", "--fp16"} - flags) & args, version
    r = CliRunner().invoke(cli, ["engine", str(weights / "model.int8.onnx"), "--precision", "int8", "--dla-core", "0",
                                 "--print-trtexec", "--trt-version", "10.3"])
    assert r.exit_code == 2 and "DLA does not run explicitly quantized (Q/DQ) layers" in r.output
    r = CliRunner().invoke(cli, ["engine", str(calibrated_run), "--precision", "int8", "--dla-core", "0", "--print-trtexec",
                                 "--trt-version", "8.6.2"])
    assert r.exit_code == 0 and f"--onnx={weights / 'model.onnx'}" in r.stdout and "--calib=" in r.stdout  # routed
    assert "trtexec cannot calibrate by itself" in r.stderr


def test_int8_without_the_qdq_model_names_the_calibrate_command(exported_run):
    r = CliRunner().invoke(cli, ["engine", str(exported_run), "--precision", "int8", "--print-trtexec", "--trt-version", "10.3"])
    assert r.exit_code == 2
    assert "model.int8-fp16.onnx (strongly typed) or model.int8.onnx (weakly typed), and neither is there" in r.output
    assert "edgeclass calibrate" in r.output


def test_an_fp32_file_posing_as_int8_is_refused(exported_run, tmp_path):
    weights = tmp_path / "weights"
    weights.mkdir()
    shutil.copy(exported_run / "weights" / "model.onnx", weights / "model.int8.onnx")
    r = CliRunner().invoke(cli, ["engine", str(tmp_path), "--precision", "int8", "--print-trtexec", "--trt-version", "10.3"])
    assert r.exit_code == 2 and "is an fp32 model" in r.output


def test_the_cpu_only_uint8_model_is_refused_for_tensorrt(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, ["n", 3, 32, 32])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 3, 32, 32])
    scale = helper.make_tensor("s", TensorProto.FLOAT, [], [0.02])
    zero = helper.make_tensor("z", TensorProto.UINT8, [], [128])
    nodes = [helper.make_node("QuantizeLinear", ["images", "s", "z"], ["q"]), helper.make_node("DequantizeLinear", ["q", "s", "z"], ["logits"])]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y], [scale, zero]))
    entry = model.metadata_props.add()
    entry.key, entry.value = "edgeclass.model_card", ModelCard(["a", "b", "c"], "simplecnn", Preprocess.for_size(32)).to_json()
    path = tmp_path / "model.int8-cpu.onnx"
    onnx.save(model, str(path))
    assert read_onnx_info(path).kind == "int8-cpu"
    r = CliRunner().invoke(cli, ["engine", str(path), "--precision", "int8", "--print-trtexec", "--trt-version", "10.3"])
    assert r.exit_code == 2 and "uint8 (U8S8) model for ONNX Runtime" in r.output


def test_old_tensorrt_is_refused_on_the_command_line(exported_run):
    r = CliRunner().invoke(cli, ["engine", str(exported_run), "--print-trtexec", "--trt-version", "8.4.3"])
    assert r.exit_code == 2 and "needs TensorRT 8.5 or newer" in r.output


def test_read_onnx_info_of_the_exported_models(exported_run):
    fp32 = read_onnx_info(exported_run / "weights" / "model.onnx")
    fp16 = read_onnx_info(exported_run / "weights" / "model.fp16.onnx")
    assert (fp32.kind, fp16.kind) == ("fp32", "fp16")
    assert fp32.input_name == "images" and fp32.output_name == "logits"
    assert fp32.card.num_classes == 10 and fp32.card.preprocess.imgsz == 32
    assert check_input_shape(fp32.input_shape, fp32.card, "model.onnx") is None  # dynamic batch


# -- jetson-check ----------------------------------------------------------------------------


def test_agreement_cosine_and_latency_numbers():
    ref = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [1.0, 0.0, 2.0]], np.float32)
    got = ref.copy()
    got[2] = [1.0, 0.0, 0.5]  # top-1 becomes class 0 where the reference says class 2
    a = jr.agreement(ref, got)
    assert a["top1_agreement"] == pytest.approx(2 / 3) and a["max_abs_diff"] == pytest.approx(1.5)
    c = jr.cosine(ref, got)
    assert c["cosine_min"] == pytest.approx(2.0 / (np.sqrt(5) * np.sqrt(1.25))) and c["cosine_min"] < c["cosine_mean"] < 1
    both = jr.compare_outputs({"logits": ref, "embedding": ref * 2}, {"logits": got, "embedding": ref * 2}, "logits")
    assert set(both) == {"logits", "embedding"} and "top1_agreement" not in both["embedding"]
    assert both["embedding"]["cosine_min"] == pytest.approx(1.0) and both["logits"]["top1_agreement"] == pytest.approx(2 / 3)
    s = jr.latency_stats([0.010, 0.020, 0.030, 0.040], batch=8)
    assert s["mean_ms"] == pytest.approx(25.0) and s["p50_ms"] == pytest.approx(25.0)
    assert s["images_per_s"] == pytest.approx(8 * 4 / 0.1)


def test_report_is_one_pasteable_markdown_block():
    from edgeclass.engine.layers import LayerInfo

    layers = [LayerInfo("conv1 + relu1", "CaskConvolution", "FP16", "GPU"), LayerInfo("fc", "CaskGemm", "FP16", "GPU")]
    rows = [
        jr.EngineRow("fp16", "ok", built="built in 40 s", source="model.onnx", accuracy=0.97, reference_accuracy=0.975,
                     outputs={"logits": {"top1_agreement": 0.995, "max_abs_diff": 0.02, "cosine_mean": 0.99999, "cosine_min": 0.9999}},
                     bench=[jr.latency_stats([0.001] * 10, 1)], describe="TensorRT 10.3.0 fp16 on Orin (sm_87)", layers=layers),
        jr.EngineRow("int8", "ok", outputs={"logits": {"top1_agreement": 0.99, "max_abs_diff": 0.1, "cosine_mean": 0.999, "cosine_min": 0.99}},
                     bench=[jr.latency_stats([0.0005] * 10, 1)]),
        jr.EngineRow("int8 DLA0", "not built: model.int8.onnx is missing"),
    ]
    text = jr.format_report({"TensorRT": "10.3.0", "L4T": "R36.4.0"}, rows, 270, "runs/demo", [("DLA engines", "no DLA")])
    assert text.startswith("## edgeclass jetson-check: runs/demo")
    assert "| TensorRT | 10.3.0 |" in text
    assert "| fp16 | ok | built in 40 s | model.onnx | 97.00% | 97.50% | 99.50% | logits 0.99999 / 0.99990 | 0.02 |" in text
    assert "| int8 DLA0 | not built: model.int8.onnx is missing |" in text
    assert "| fp16 | 1 | 1.00 |" in text and "- TensorRT 10.3.0 fp16 on Orin (sm_87)" in text
    assert "| int8 | 99.00% | 0.99000 | 0.50 | 2000 | 2.00x | - |" in text  # the summary: int8 twice fp16's throughput
    assert "| 1 | fc | CaskGemm | FP16 | GPU |" in text and "<details>" in text
    assert text.rstrip().endswith("- DLA engines: no DLA")


def test_benchmark_times_a_real_onnxruntime_session(exported_run):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(exported_run / "weights" / "model.onnx"), providers=["CPUExecutionProvider"])
    images = np.random.default_rng(0).random((3, 3, 32, 32), dtype=np.float32)
    stats = jr.benchmark(lambda x: sess.run(None, {"images": x})[0], images, batch=4, iters=5, warmup=1)
    assert stats["batch"] == 4 and stats["calls"] == 5
    assert 0 < stats["p50_ms"] <= stats["p99_ms"] and stats["images_per_s"] > 0


@pytest.mark.skipif(HAS_TENSORRT, reason="tensorrt is installed here; this checks the report without it")
def test_jetson_check_without_tensorrt_still_reports(exported_run, tmp_path):
    out = tmp_path / "report.md"
    r = CliRunner().invoke(cli, ["jetson-check", str(exported_run), "--limit", "40", "--out", str(out)])
    printed = r.stdout
    assert r.exit_code == 0 and out.read_text() == printed
    assert "### Device" in printed and "| TensorRT | not installed |" in printed and "| DLA cores | unknown" in printed
    assert "| fp16 | skipped: no TensorRT |" in printed and "| int8 | skipped: no TensorRT |" in printed
    assert "(40 test images;" in printed
    skipped = printed.split("### Skipped", 1)[1]
    assert "- engines (build, layers, agreement, latency): TensorRT is not installed for this Python" in skipped
    assert "- DLA engines: need TensorRT" in skipped


def test_jetson_check_report_with_a_stand_in_tensorrt_and_dla(calibrated_run, tmp_path, monkeypatch):
    """The whole check against the stand-in TensorRT of tests/helpers (plans run by ONNX Runtime):
    GPU and DLA engines built, their layer tables, every output compared, latency, the summary."""
    import shutil

    import trt_standin

    run = tmp_path / "run"
    shutil.copytree(calibrated_run, run)
    trt_standin.install(monkeypatch, "8.6.2", dla_cores=2)
    r = CliRunner().invoke(cli, ["jetson-check", str(run), "--limit", "24", "--batches", "1,4", "--iters", "3"])
    assert r.exit_code == 0, r.output
    text = r.stdout
    for label in ("fp16", "int8", "fp16 DLA0", "int8 DLA0"):
        assert f"| {label} | ok | built in" in text, label
    assert "| int8 | ok | built in 0 s | model.int8.onnx |" in text  # 8.6: the opset-17 Q/DQ file
    assert "| int8 DLA0 | ok | built in 0 s | model.onnx |" in text  # DLA: implicit calibration of the fp32 model
    assert "logits 1.00000 / 1.00000" in text  # the stand-in runs the same graph as ONNX Runtime
    assert "### Summary: fp16 vs int8 vs DLA" in text and "| fp16 DLA0 | 100.00% |" in text
    assert "Layers of int8 DLA0" in text and "| DLA |" in text and "| DLA transfer |" in text
    assert "| 4 (4 x 1) |" in text  # the static batch-1 DLA engine runs batch 4 as four calls
    assert "DLA core 0:" in text and "1 on the GPU" in text
    assert "| DLA cores | 2 |" in text and "| TensorRT | 8.6.2 |" in text


def test_jetson_check_needs_an_exported_run(trained_run):
    r = CliRunner().invoke(cli, ["jetson-check", str(trained_run)])
    assert r.exit_code == 2
    assert "edgeclass export" in r.stderr
