"""What an engine is bound to besides the TensorRT version: the GPU (name, compute capability) and,
on a Jetson, the module (board) and the L4T release. Every Orin module reports sm_87 and calls its GPU
"Orin" (developer.nvidia.com/cuda-gpus lists 8.7 for AGX Orin, Orin NX and Orin Nano), so an engine
built on an AGX Orin (2 DLA cores) is told from an Orin Nano (none) only by the board.

Plain file reads, no TensorRT: ``/etc/nv_tegra_release`` (L4T), ``/proc/device-tree/model`` and
``/proc/device-tree/compatible`` (board), ``dpkg-query`` for the ``nvidia-jetpack`` package version.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any, Dict, List, Optional

L4T_RELEASE_FILE = "/etc/nv_tegra_release"
DEVICE_TREE_MODEL = "/proc/device-tree/model"
DEVICE_TREE_COMPATIBLE = "/proc/device-tree/compatible"
# L4T major release -> JetPack major (NVIDIA's JetPack archive: R35 = JetPack 5, R36 = 6, R38 = 7)
JETPACK_OF_L4T = {"R35": "5", "R36": "6", "R38": "7"}


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


def _read(path: str) -> Optional[bytes]:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def read_l4t_release(path: str = L4T_RELEASE_FILE) -> Optional[str]:
    data = _read(path)
    return parse_l4t_release(data.decode("utf-8", "replace")) if data else None


def read_jetson_module(model_path: str = DEVICE_TREE_MODEL) -> Optional[str]:
    """The board name from the device tree ("NVIDIA Jetson AGX Orin Developer Kit"), None elsewhere."""
    data = _read(model_path)
    text = data.rstrip(b"\0\n ").decode("utf-8", "replace") if data else ""
    return text or None


def read_module_id(compatible_path: str = DEVICE_TREE_COMPATIBLE) -> Optional[str]:
    """The device tree's ``compatible`` list ("nvidia,p3737-0000+p3701-0005", "nvidia,p3701-0005",
    "nvidia,tegra234") joined with spaces: the carrier board + module part numbers and the SoC."""
    data = _read(compatible_path)
    parts = [p.decode("utf-8", "replace") for p in (data or b"").split(b"\0") if p.strip()]
    return " ".join(parts) or None


def jetpack_version(l4t: Optional[str]) -> Optional[str]:
    """The installed ``nvidia-jetpack`` package's version, else the JetPack major of the L4T release."""
    if shutil.which("dpkg-query"):
        try:
            out = subprocess.run(["dpkg-query", "--showformat=${Version}", "--show", "nvidia-jetpack"],
                                 capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                return out.stdout.strip()
        except (OSError, subprocess.SubprocessError):
            pass
    if not l4t:
        return None
    major = JETPACK_OF_L4T.get(l4t.split(".", 1)[0])
    return f"{major}.x (from L4T {l4t})" if major else None


def host_identity(dla_cores: Optional[int] = None) -> Dict[str, Any]:
    """This machine's board, module part numbers and L4T release (None off a Jetson), and its DLA
    core count when TensorRT told the caller (``IBuilder.num_DLA_cores`` / ``IRuntime.num_DLA_cores``)."""
    return {"module": read_jetson_module(), "module_id": read_module_id(), "l4t": read_l4t_release(), "dla_cores": dla_cores}


def identity_stale_reasons(built: Dict[str, Any], running: Dict[str, Any]) -> List[str]:
    """Reasons an engine built on ``built`` ({"module", "module_id", "l4t", "dla_core"}) must not be
    used on ``running`` ({"module", "module_id", "l4t", "dla_cores"}): another Jetson module (an
    AGX-built DLA engine on an Orin Nano, both sm_87), another L4T release, a DLA core the device lacks.
    A field unknown on either side is not compared."""
    reasons = []
    if built.get("module") and running.get("module") and built["module"] != running["module"]:
        reasons.append(f"built on a {built['module']}, this is a {running['module']}")
    elif built.get("module_id") and running.get("module_id") and built["module_id"] != running["module_id"]:
        reasons.append(f"built on module {built['module_id']}, this is {running['module_id']}")
    if built.get("l4t") and running.get("l4t") and built["l4t"] != running["l4t"]:
        reasons.append(f"built on L4T {built['l4t']}, this is L4T {running['l4t']}")
    core = built.get("dla_core")
    if core is not None and running.get("dla_cores") is not None and int(core) >= int(running["dla_cores"]):
        reasons.append(f"built for DLA core {core}, this device has {running['dla_cores']} DLA core(s)")
    return reasons
