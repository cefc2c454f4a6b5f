"""The engine sidecar ``model.<precision>.engine.json``: the engine's identity (the TensorRT version,
GPU and source ONNX it was built with and for), its card and build options, and the staleness verdict
that says whether it can be used here. Plain JSON and plain functions: no TensorRT.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from .. import __version__
from ..artifacts.engine import sidecar_path
from ..errors import EdgeclassError
from ..spec import ModelCard, sha256_file
from .plan import INPUT_NAME, OUTPUT_NAME, BuildPlan, EngineRequest, TrtVersion
from .shapes import ProfileShapes

SIDECAR_FORMAT = "edgeclass.engine.v1"
L4T_RELEASE_FILE = "/etc/nv_tegra_release"


# --------------------------------------------------------------------------------------------
# identity: GPU and Jetson release
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GpuInfo:
    name: str
    compute_capability: str  # "8.7"

    @property
    def sm(self) -> str:
        return "sm_" + self.compute_capability.replace(".", "")


def parse_l4t_release(text: Optional[str]) -> Optional[str]:
    """'# R36 (release), REVISION: 4.0, GCID: ...' -> 'R36.4.0' (None when not a Jetson)."""
    if not text:
        return None
    m = re.search(r"R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text)
    if not m:
        return None
    return f"R{m.group(1)}.{m.group(2).rstrip('.')}"


def read_l4t_release(path: str = L4T_RELEASE_FILE) -> Optional[str]:
    try:
        with open(path, "r", encoding="utf-8", errors="replace") as f:
            return parse_l4t_release(f.read())
    except OSError:
        return None


# --------------------------------------------------------------------------------------------
# the sidecar document
# --------------------------------------------------------------------------------------------


def make_sidecar(
    card: ModelCard,
    plan: BuildPlan,
    shapes: ProfileShapes,
    gpu: GpuInfo,
    onnx_path: str | os.PathLike,
    onnx_sha256: str,
    build_seconds: float,
    l4t: Optional[str] = None,
    workspace_gib: Optional[float] = None,
    timing_cache: Optional[str] = None,
    input_name: str = INPUT_NAME,
    output_name: str = OUTPUT_NAME,
    built_at: Optional[str] = None,
) -> Dict[str, Any]:
    """Everything needed to use the engine and to tell later whether it is stale."""
    engine_card = card.replace(
        precision=plan.precision,
        provenance={"parent_sha256": onnx_sha256, "parent": Path(onnx_path).name, "tensorrt": str(plan.version)},
    )
    return {
        "format": SIDECAR_FORMAT,
        "card": engine_card.to_dict(),
        "precision": plan.precision,
        "tensorrt": str(plan.version),
        "gpu": {"name": gpu.name, "compute_capability": gpu.compute_capability},
        "l4t": l4t,
        "source_onnx": {"file": Path(onnx_path).name, "sha256": onnx_sha256},
        "input": {"name": input_name, "dtype": "float32", "layout": "NCHW", **shapes.to_dict()},
        "output": {"name": output_name, "dtype": "float32", "classes": card.num_classes},
        "build": {**plan.to_dict(), "workspace_gib": workspace_gib, "timing_cache": timing_cache},
        "build_seconds": round(float(build_seconds), 2),
        "built_at": built_at or _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "edgeclass": __version__,
    }


def check_sidecar(d: Any, path: str | os.PathLike) -> Dict[str, Any]:
    """Validate a parsed sidecar; one-line error naming what is wrong."""
    if not isinstance(d, dict) or d.get("format") != SIDECAR_FORMAT:
        raise EdgeclassError(f"{path} is not an edgeclass engine sidecar")
    for key in ("card", "tensorrt", "gpu", "precision", "input"):
        if key not in d:
            raise EdgeclassError(f"{path} lacks {key!r}; rebuild the engine with `edgeclass engine`")
    ModelCard.from_dict(d["card"])
    return d


def read_sidecar(engine: str | os.PathLike) -> Optional[Dict[str, Any]]:
    """The engine's sidecar, None when absent; an EdgeclassError when present but unreadable."""
    path = sidecar_path(engine)
    if not path.is_file():
        return None
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise EdgeclassError(f"cannot read {path}: {e}") from None
    return check_sidecar(d, path)


def source_onnx_sha256(engine: str | os.PathLike, sidecar: Optional[Dict[str, Any]]) -> Optional[str]:
    """Digest of the ONNX the engine was built from, when that file sits next to the engine."""
    if not sidecar:
        return None
    name = (sidecar.get("source_onnx") or {}).get("file")
    if not name:
        return None
    p = Path(engine).parent / name
    return sha256_file(p) if p.is_file() else None


# --------------------------------------------------------------------------------------------
# staleness
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Verdict:
    """Whether an engine can be used here; ``reasons`` are short phrases, joined into one line."""

    reasons: Tuple[str, ...] = ()

    @property
    def stale(self) -> bool:
        return bool(self.reasons)

    def message(self, engine: str | os.PathLike, command: str) -> str:
        return f"{engine} is stale ({'; '.join(self.reasons)}): rebuild it with `{command}` (or run with --rebuild-stale)"


def _version_usable(built: TrtVersion, running: TrtVersion, version_compatible: bool) -> bool:
    if built == running:
        return True
    if not version_compatible:
        return False
    # version-compatible plans run on the same or a later runtime: 8.6 -> 8.x/9/10, 10 -> 10.x/11, 11.0 -> 11.x
    return running >= built and running.major - built.major <= (2 if built.major == 8 else 1)


def staleness(
    sidecar: Optional[Dict[str, Any]],
    running_version: TrtVersion,
    gpu: GpuInfo,
    onnx_sha256: Optional[str] = None,
) -> Verdict:
    """Is an engine with this sidecar usable with this TensorRT on this GPU, built from this ONNX?
    ``onnx_sha256`` is the current source ONNX's digest when that file is present (None: not checked,
    e.g. an engine deployed without its ONNX)."""
    if sidecar is None:
        return Verdict(("its sidecar .engine.json is missing, so its TensorRT version, GPU and source are unknown",))
    reasons: List[str] = []
    built = TrtVersion.parse(sidecar["tensorrt"])
    vc = bool((sidecar.get("build") or {}).get("version_compatible"))
    if not _version_usable(built, running_version, vc):
        reasons.append(f"built with TensorRT {built}, this is TensorRT {running_version}")
    bgpu = sidecar.get("gpu") or {}
    if str(bgpu.get("compute_capability")) != gpu.compute_capability:
        reasons.append(
            f"built for {bgpu.get('name')} (sm_{str(bgpu.get('compute_capability')).replace('.', '')}), this GPU is {gpu.name} ({gpu.sm})"
        )
    elif bgpu.get("name") != gpu.name:
        reasons.append(f"built on a {bgpu.get('name')}, this GPU is a {gpu.name}")
    src = sidecar.get("source_onnx") or {}
    if onnx_sha256 is not None and src.get("sha256") and src["sha256"] != onnx_sha256:
        reasons.append(f"{src.get('file', 'the source ONNX')} changed since the build")
    return Verdict(tuple(reasons))


def engine_verdict(engine: str | os.PathLike, running_version: TrtVersion, gpu: GpuInfo) -> Tuple[Optional[Dict[str, Any]], Verdict]:
    """(sidecar, verdict) of the engine file at ``engine``, its source ONNX checked when it is next to it."""
    sidecar = read_sidecar(engine)
    return sidecar, staleness(sidecar, running_version, gpu, source_onnx_sha256(engine, sidecar))


def deserialize_failure_verdict(detail: str = "") -> Verdict:
    tail = f": {detail}" if detail else ""
    return Verdict((f"TensorRT could not deserialise it{tail}",))


# --------------------------------------------------------------------------------------------
# rebuilding the same way
# --------------------------------------------------------------------------------------------


def request_from_sidecar(sidecar: Optional[Dict[str, Any]], precision: str, device: int = 0) -> EngineRequest:
    """The options an existing engine was built with (defaults for ``precision`` when its sidecar is missing)."""
    if not sidecar:
        return EngineRequest(precision=precision, device=device)
    lo, opt, hi = ProfileShapes.from_dict(sidecar["input"]).batches
    b = sidecar.get("build") or {}
    return EngineRequest(
        precision=str(sidecar["precision"]),
        min_batch=lo,
        opt_batch=opt,
        max_batch=hi,
        workspace_gib=b.get("workspace_gib"),
        timing_cache=b.get("timing_cache"),
        dla_core=b.get("dla_core"),
        version_compatible=bool(b.get("version_compatible")),
        calibrator=bool(b.get("calibrator")),
        device=device,
    )


def rebuild_command(target: str | os.PathLike, sidecar: Optional[Dict[str, Any]], precision: Optional[str] = None) -> str:
    """`edgeclass engine ...` that rebuilds an engine the way its sidecar records (or, without a
    sidecar, with default options for ``precision``)."""
    return request_from_sidecar(sidecar, precision or "fp16").command(target)
