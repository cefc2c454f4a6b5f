"""Choosing a face detector by name or file: ``load_detector("mtcnn" | "yunet" | "haar" | "auto" | PATH)``.

``auto`` (the default) is MTCNN when its ONNX files are in the model cache (``make setup`` converts
them from the facenet-pytorch wheel), else the Haar cascade, with a one-line note saying why (never
silently). A file is recognised by what it is: a folder or ``mtcnn-*.onnx`` with the other two stages
beside it is MTCNN, an ``.xml`` a Haar cascade, another ``.onnx`` must load as YuNet. Anything else
(missing, empty, random bytes, a classifier ONNX) is one ``EdgeclassError`` line naming the file and
the detectors that are available.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional

from ...errors import EdgeclassError
from ...facemodels import DOWNLOADS, MTCNN_FILES, model_path, models_dir
from .base import Detector, DetectorOptions
from .haar import HaarCascade, bundled_cascade
from .mtcnn import MTCNN, MtcnnSettings
from .yunet import YuNet

DETECTORS = ("mtcnn", "yunet", "haar")
AUTO = "auto"
CONVERT_HINT = "make setup, or: python -m edgeclass.tools.face_models convert mtcnn"
GENERIC = {f.name for f in dataclasses.fields(DetectorOptions)}


def mtcnn_missing(folder: Path) -> List[Path]:
    return [folder / name for name in MTCNN_FILES.values() if not (folder / name).is_file()]


def available_detectors(folder: Optional[Path] = None) -> List[str]:
    """The detectors whose model files are here now, in order of preference."""
    folder = Path(folder or models_dir())
    out = []
    if not mtcnn_missing(folder):
        out.append("mtcnn")
    if model_path("yunet", folder).is_file():
        out.append("yunet")
    if bundled_cascade().is_file():
        out.append("haar")
    return out


def _split_options(options: Dict[str, Any]):
    generic = {k: v for k, v in options.items() if k in GENERIC}
    specific = {k: v for k, v in options.items() if k not in GENERIC}
    return generic, specific


def _options_for(cls, generic: Dict[str, Any]) -> DetectorOptions:
    return dataclasses.replace(cls.default_options, **generic)


def _mtcnn(folder: Path, generic, specific) -> MTCNN:
    known = {f.name for f in dataclasses.fields(MtcnnSettings)}
    bad = sorted(set(specific) - known)
    if bad:
        raise EdgeclassError(f"unknown MTCNN option(s) {', '.join(bad)} (known: {', '.join(sorted(GENERIC | known))})")
    return MTCNN(folder, _options_for(MTCNN, generic), MtcnnSettings(**specific))


def _no_specific(name: str, specific: Dict[str, Any]) -> None:
    if specific:
        raise EdgeclassError(f"unknown {name} option(s) {', '.join(sorted(specific))} (known: {', '.join(sorted(GENERIC))})")


def _by_name(name: str, folder: Path, generic, specific, log: Callable[[str], None]) -> Detector:
    if name == AUTO:
        missing = mtcnn_missing(folder)
        if not missing:
            return _mtcnn(folder, generic, specific)
        log(f"note: face detector MTCNN is not set up ({missing[0]} is missing; {CONVERT_HINT}); using the Haar cascade")
        name, specific = "haar", {}
    if name == "mtcnn":
        missing = mtcnn_missing(folder)
        if missing:
            raise EdgeclassError(f"MTCNN model file {missing[0]} is missing ({CONVERT_HINT}); {_available(folder)}")
        return _mtcnn(folder, generic, specific)
    if name == "yunet":
        path = model_path("yunet", folder)
        if not path.is_file():
            raise EdgeclassError(
                f"YuNet model file {path} is missing: python -m edgeclass.tools.face_models fetch yunet downloads it "
                f"from {DOWNLOADS['yunet'].url} (or put it there yourself); {_available(folder)}"
            )
        _no_specific(name, specific)
        return YuNet(path, _options_for(YuNet, generic))
    if name == "haar":
        _no_specific(name, specific)
        return HaarCascade(None, _options_for(HaarCascade, generic))
    raise EdgeclassError(f"unknown face detector {name!r} (choose from {', '.join((AUTO,) + DETECTORS)}, or give a model file)")


def _by_file(path: Path, folder: Path, generic, specific) -> Detector:
    if not path.exists():
        raise EdgeclassError(f"face model {path} does not exist; {_available(folder)}")
    try:
        if path.is_dir() or path.name in MTCNN_FILES.values():
            return _mtcnn(path if path.is_dir() else path.parent, generic, specific)
        if path.suffix.lower() == ".xml":
            _no_specific("haar", specific)
            return HaarCascade(path, _options_for(HaarCascade, generic))
        if path.suffix.lower() != ".onnx":
            raise EdgeclassError(f"{path} is not a face model file (give a YuNet .onnx, the MTCNN folder or a Haar .xml)")
        _no_specific("yunet", specific)
        return YuNet(path, _options_for(YuNet, generic))
    except EdgeclassError as e:
        raise EdgeclassError(f"{e}; {_available(folder)}") from None


def _available(folder: Path) -> str:
    names = available_detectors(folder)
    return f"available detectors: {', '.join(names) if names else 'none'}"


def load_detector(name_or_file: str = AUTO, folder: Optional[Path] = None, log: Callable[[str], None] = print,
                  **options: Any) -> Detector:
    """A face detector by name (``auto``, ``mtcnn``, ``yunet``, ``haar``) or model file.

    ``options``: ``max_side``, ``scale``, ``min_face``, ``score`` (``DetectorOptions``) for every
    detector; MTCNN also takes ``engine`` (``onnxruntime`` | ``opencv``), ``threads``,
    ``thresholds``, ``pyramid``, ``max_candidates``. ``folder``: the model cache (default
    ``edgeclass.facemodels.models_dir()``). ``log`` receives the note when ``auto`` falls back."""
    folder = Path(folder or models_dir())
    generic, specific = _split_options(options)
    name = str(name_or_file)
    if name in DETECTORS or name == AUTO:
        return _by_name(name, folder, generic, specific, log)
    if "/" in name or "\\" in name or "." in name:
        return _by_file(Path(name), folder, generic, specific)
    return _by_name(name, folder, generic, specific, log)
