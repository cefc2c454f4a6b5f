"""Face model files in the cache (``$EDGECLASS_HOME/models``)::

    python -m edgeclass.tools.face_models convert mtcnn   # ONNX from the facenet-pytorch wheel (make setup)
    python -m edgeclass.tools.face_models fetch yunet     # download (sha256-checked)
    python -m edgeclass.tools.face_models list

Library functions first (``convert``, ``fetch``, ``listing``); ``main`` is the thin command line that
the ``edgeclass models`` command will wrap. Errors: one line, exit 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional, Sequence

from ..errors import EdgeclassError
from ..facemodels import DOWNLOADS, MTCNN_FILES, fetch_model, model_path, models_dir


def convert(name: str, folder: Optional[Path] = None, force: bool = False, log=print) -> List[Path]:
    """Convert a model that ships inside a package (``mtcnn``) to ONNX in the cache; existing files
    are kept unless ``force``."""
    if name != "mtcnn":
        raise EdgeclassError(f"nothing to convert for {name!r} (convertible: mtcnn)")
    folder = Path(folder or models_dir())
    paths = [folder / f for f in MTCNN_FILES.values()]
    if not force and all(p.is_file() for p in paths):
        log(f"MTCNN is already in {folder}")
        return paths
    from ..export.mtcnn import convert_mtcnn

    return convert_mtcnn(folder, log=log)


def fetch(name: str, folder: Optional[Path] = None, log=print) -> Path:
    entry = DOWNLOADS.get(name)
    if entry is None:
        raise EdgeclassError(f"unknown model {name!r} (downloadable: {', '.join(sorted(DOWNLOADS))})")
    path = fetch_model(name, folder)
    log(f"{name}: {path} ({entry.licence})")
    return path


def listing(folder: Optional[Path] = None) -> List[str]:
    """One line per known model file: name, present or not, path."""
    folder = Path(folder or models_dir())
    rows = [f"mtcnn-{stage:<5} {'yes' if (folder / f).is_file() else 'no ':<3} {folder / f}" for stage, f in MTCNN_FILES.items()]
    rows += [f"{name:<11} {'yes' if model_path(name, folder).is_file() else 'no ':<3} {model_path(name, folder)}" for name in DOWNLOADS]
    return rows


def main(argv: Optional[Sequence[str]] = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    usage = "usage: python -m edgeclass.tools.face_models convert mtcnn | fetch NAME | list"
    try:
        if args[:1] == ["list"]:
            print("\n".join(listing()))
        elif len(args) == 2 and args[0] == "convert":
            convert(args[1])
        elif len(args) == 2 and args[0] == "fetch":
            fetch(args[1])
        else:
            print(usage, file=sys.stderr)
            return 2
    except EdgeclassError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
