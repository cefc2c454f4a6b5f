"""The engine sidecar ``model.<precision>.engine.json``: the engine's identity (the TensorRT version,
GPU, Jetson module and L4T release, source ONNX it was built with and for), its card, I/O names and
build options, where its layers run, and the staleness verdict that says whether it can be used here.
Plain JSON and plain functions: no TensorRT.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence, Tuple

from .. import __version__
from ..artifacts.engine import sidecar_path
from ..errors import EdgeclassError
from ..spec import ModelCard, sha256_file
from .identity import GpuInfo, host_identity, identity_stale_reasons, parse_l4t_release, read_l4t_release  # noqa: F401
from .plan import INPUT_NAME, OUTPUT_NAME, BuildPlan, EngineRequest, TrtVersion
from .shapes import ProfileShapes

SIDECAR_FORMAT = "edgeclass.engine.v1"


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
    host: Optional[Dict[str, Any]] = None,
    output_names: Sequence[str] = (),
    timing_cache_chosen: bool = False,
    placement: Optional[Dict[str, Any]] = None,
    layers: Optional[List[Dict[str, str]]] = None,
    calibration: Optional[Dict[str, Any]] = None,
) -> Dict[str, Any]:
    """Everything needed to use the engine and to tell later whether it is stale. ``host``: the
    machine's module / module_id / l4t (``identity.host_identity``); ``placement``: where the
    network's layers run (``dla.builder_placement``); ``layers``: the engine inspector's rows."""
    host = host or {}
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
        "l4t": l4t if l4t is not None else host.get("l4t"),
        "jetson_module": host.get("module"),
        "jetson_module_id": host.get("module_id"),
        "source_onnx": {"file": Path(onnx_path).name, "sha256": onnx_sha256},
        "input": {"name": input_name, "dtype": "float32", "layout": "NCHW", **shapes.to_dict()},
        "output": {"name": output_name, "dtype": "float32", "classes": card.num_classes},
        "outputs": list(output_names or (output_name,)),
        "build": {**plan.to_dict(), "workspace_gib": workspace_gib, "timing_cache": timing_cache,
                  "timing_cache_chosen": bool(timing_cache_chosen), "calibration": calibration},
        "placement": placement,
        "layers": layers,
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


def built_identity(sidecar: Dict[str, Any]) -> Dict[str, Any]:
    """What ``identity.identity_stale_reasons`` compares, from a sidecar."""
    return {"module": sidecar.get("jetson_module"), "module_id": sidecar.get("jetson_module_id"), "l4t": sidecar.get("l4t"),
            "dla_core": (sidecar.get("build") or {}).get("dla_core")}


def staleness(
    sidecar: Optional[Dict[str, Any]],
    running_version: TrtVersion,
    gpu: GpuInfo,
    onnx_sha256: Optional[str] = None,
    host: Optional[Dict[str, Any]] = None,
) -> Verdict:
    """Is an engine with this sidecar usable with this TensorRT on this GPU and board, built from this
    ONNX? ``onnx_sha256`` is the current source ONNX's digest when that file is present (None: not
    checked, e.g. an engine deployed without its ONNX); ``host`` this machine's module, L4T release and
    DLA core count (``identity.host_identity``; None: not compared)."""
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
    reasons += identity_stale_reasons(built_identity(sidecar), host or {})
    src = sidecar.get("source_onnx") or {}
    if onnx_sha256 is not None and src.get("sha256") and src["sha256"] != onnx_sha256:
        reasons.append(f"{src.get('file', 'the source ONNX')} changed since the build")
    return Verdict(tuple(reasons))


def engine_verdict(engine: str | os.PathLike, running_version: TrtVersion, gpu: GpuInfo,
                   host: Optional[Dict[str, Any]] = None) -> Tuple[Optional[Dict[str, Any]], Verdict]:
    """(sidecar, verdict) of the engine file at ``engine``, its source ONNX checked when it is next to
    it; ``host`` defaults to this machine's board and L4T release (DLA cores not compared)."""
    sidecar = read_sidecar(engine)
    host = host if host is not None else host_identity()
    return sidecar, staleness(sidecar, running_version, gpu, source_onnx_sha256(engine, sidecar), host)


def deserialize_failure_verdict(detail: str = "") -> Verdict:
    tail = f": {detail}" if detail else ""
    return Verdict((f"TensorRT could not deserialise it{tail}",))


# --------------------------------------------------------------------------------------------
# rebuilding the same way
# --------------------------------------------------------------------------------------------


def request_from_sidecar(sidecar: Optional[Dict[str, Any]], precision: str, device: int = 0) -> EngineRequest:
    """The options an existing engine was built with (defaults for ``precision`` when its sidecar is
    missing). The timing cache is carried over only when the user chose it (``--timing-cache``): the
    default one is named for the TensorRT version and GPU that built it, so a rebuild on another
    version takes the running version's default instead (``plan.build_timing_cache``)."""
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
        timing_cache=b.get("timing_cache") if b.get("timing_cache_chosen") else None,
        dla_core=b.get("dla_core"),
        version_compatible=bool(b.get("version_compatible")),
        calibrator=bool(b.get("calibrator")),
        device=device,
    )


def rebuild_command(target: str | os.PathLike, sidecar: Optional[Dict[str, Any]], precision: Optional[str] = None) -> str:
    """`edgeclass engine ...` that rebuilds an engine the way its sidecar records (or, without a
    sidecar, with default options for ``precision``)."""
    return request_from_sidecar(sidecar, precision or "fp16").command(target)
