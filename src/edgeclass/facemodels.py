"""Face model files: where they live, which can be downloaded, and the download itself.

The cache folder is ``$EDGECLASS_HOME/models`` (default ``~/.cache/edgeclass/models``). Two kinds of
files live there:

- downloaded ones, from the table ``DOWNLOADS`` (name -> URL, sha256, file name, licence), fetched by
  ``fetch_model(name)`` with a progress bar, checked against the sha256, written atomically. Never at
  import time, never in a test (tests serve a file on 127.0.0.1). Offline, the error names the file,
  the URL and where to put the file;
- converted ones: MTCNN's three ONNX files, made once from the weights inside the facenet-pytorch
  wheel by ``edgeclass.export.mtcnn.convert_mtcnn`` (``make setup`` does it).

Plain Python (no numpy): the runtime, export and tools all import it.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional

from .errors import EdgeclassError
from .fileio import atomic_path

HOME_ENV = "EDGECLASS_HOME"

# MTCNN as converted by edgeclass.export.mtcnn: one ONNX file per stage, each tagged in its metadata
FACE_MODEL_KEY = "edgeclass.face_model"
MTCNN_FILES = {"pnet": "mtcnn-pnet.onnx", "rnet": "mtcnn-rnet.onnx", "onet": "mtcnn-onet.onnx"}
MTCNN_OUTPUTS = {"pnet": ("prob", "reg"), "rnet": ("prob", "reg"), "onet": ("prob", "reg", "landmarks")}


@dataclass(frozen=True)
class Download:
    """A model file that comes from the internet."""

    name: str
    url: str
    sha256: str
    filename: str
    licence: str
    size: Optional[int] = None  # bytes, for the progress bar and the truncation check


# sha256 and size: the Git LFS pointers of opencv/opencv_zoo (main), whose oid is the file's sha256.
DOWNLOADS: Dict[str, Download] = {
    d.name: d
    for d in (
        Download(
            "yunet",
            "https://github.com/opencv/opencv_zoo/raw/main/models/face_detection_yunet/face_detection_yunet_2023mar.onnx",
            "8f2383e4dd3cfbb4553ea8718107fc0423210dc964f9f4280604804ed2552fa4",
            "face_detection_yunet_2023mar.onnx",
            "MIT",
            232589,
        ),
        Download(
            "sface",
            "https://github.com/opencv/opencv_zoo/raw/main/models/face_recognition_sface/face_recognition_sface_2021dec.onnx",
            "0ba9fbfa01b5270c96627c4ef784da859931e02f04419c829e83484087c34e79",
            "face_recognition_sface_2021dec.onnx",
            "Apache-2.0",
            38696353,
        ),
    )
}


def edgeclass_home() -> Path:
    """``$EDGECLASS_HOME``, or ``~/.cache/edgeclass``."""
    return Path(os.environ.get(HOME_ENV) or Path.home() / ".cache" / "edgeclass")


def models_dir() -> Path:
    return edgeclass_home() / "models"


def download_entry(name: str) -> Download:
    if name not in DOWNLOADS:
        raise EdgeclassError(f"unknown model {name!r} (downloadable: {', '.join(sorted(DOWNLOADS))})")
    return DOWNLOADS[name]


def model_path(name: str, folder: Optional[Path] = None) -> Path:
    """Where the downloadable model ``name`` lives (whether or not it is there yet)."""
    return Path(folder or models_dir()) / download_entry(name).filename


def fetch_model(name: str, folder: Optional[Path] = None, progress: bool = True, timeout: float = 30.0) -> Path:
    """The path of model ``name`` in the cache, downloading it first when it is not there."""
    path = model_path(name, folder)
    if path.is_file():
        return path
    return download(download_entry(name), path, progress=progress, timeout=timeout)


def download(entry: Download, path: Path, progress: bool = True, timeout: float = 30.0) -> Path:
    """``entry.url`` -> ``path``, checked against ``entry.sha256``; nothing is left at ``path`` (nor a
    temporary file) unless the whole file arrived with the right hash."""
    path = Path(path)
    where = f"or put the file from that URL at {path}"
    try:
        with urllib.request.urlopen(entry.url, timeout=timeout) as response, atomic_path(path) as tmp:
            total = _length(response) or entry.size
            digest, received = _stream(response, tmp, total, _progress(entry.filename, total) if progress else None)
            if total is not None and received != total:
                raise EdgeclassError(f"download of {entry.filename} from {entry.url} stopped after {received} of {total} bytes; try again, {where}")
            if digest != entry.sha256:
                raise EdgeclassError(f"{entry.filename} from {entry.url} has sha256 {digest[:16]}..., expected {entry.sha256[:16]}...; not saved (try again, {where})")
    except EdgeclassError:
        raise
    except urllib.error.HTTPError as e:
        raise EdgeclassError(f"cannot download {entry.filename} from {entry.url} (HTTP {e.code} {e.reason}); put that file at {path}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
        reason = getattr(e, "reason", None) or e
        raise EdgeclassError(f"cannot download {entry.filename} from {entry.url} ({reason}); without a network, put that file at {path}") from None
    return path


def _length(response) -> Optional[int]:
    value = response.headers.get("Content-Length")
    return int(value) if value and value.isdigit() else None


def _stream(response, tmp: Path, total: Optional[int], bar: Optional[Callable[[int], None]], chunk: int = 1 << 16):
    h, received = hashlib.sha256(), 0
    with open(tmp, "wb") as f:
        while True:
            block = response.read(chunk)
            if not block:
                break
            f.write(block)
            h.update(block)
            received += len(block)
            if bar is not None:
                bar(received)
    if bar is not None:
        bar(-1)
    return h.hexdigest(), received


def _progress(label: str, total: Optional[int]) -> Callable[[int], None]:
    """A progress callback (bytes so far; -1 at the end): tqdm when installed, else a stderr line."""
    try:
        from tqdm import tqdm
    except ImportError:
        tqdm = None
    if tqdm is not None:
        bar = tqdm(total=total, unit="B", unit_scale=True, desc=label, leave=False)

        def update(done: int) -> None:
            if done < 0:
                bar.close()
            else:
                bar.update(done - bar.n)

        return update

    def line(done: int) -> None:
        if done < 0:
            sys.stderr.write("\n")
        else:
            pct = f" {100 * done // total}%" if total else ""
            sys.stderr.write(f"\r{label}: {done // 1024} KiB{pct}")
        sys.stderr.flush()

    return line
