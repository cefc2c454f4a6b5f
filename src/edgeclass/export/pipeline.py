"""`edgeclass export`: checkpoint -> model.ts, model.onnx, model.fp16.onnx, then a parity report."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch

from ..data.image_sets import DataSource, split_images
from ..artifacts import formats
from ..errors import EdgeclassError
from ..fileio import write_json_atomic
from ..spec import ModelCard, sha256_file
from ..train.checkpoint import load_model
from .onnx_export import DEFAULT_OPSET, export_onnx, exporter_for
from ..inference import onnx_logits, predict_in_chunks
from .parity import ParityRow, compare, format_table, torchscript_logits
from .source import ExportSource, resolve_checkpoint

FORMATS = formats.keys(formats.made_by("export"))  # torchscript, onnx, onnx-fp16
PARITY_FILE = "parity.json"


@dataclass
class ExportConfig:
    source: Path  # run folder or checkpoint
    formats: Tuple[str, ...] = FORMATS
    imgsz: Optional[int] = None  # None: the size the model was trained at
    batch: Optional[int] = None  # None: dynamic batch axis; N: fixed batch N
    opset: int = DEFAULT_OPSET
    out: Optional[Path] = None  # default: next to the weights
    data: Optional[Path] = None  # dataset for parity (default: the run's config.json)
    parity_images: int = 256  # 0 skips the parity check

    def validate(self) -> "ExportConfig":
        unknown = [f for f in self.formats if f not in FORMATS]
        if unknown or not self.formats:
            raise EdgeclassError(f"unknown format(s) {', '.join(unknown) or '(none)'}; choose from {', '.join(FORMATS)}")
        if self.batch is not None and self.batch < 1:
            raise EdgeclassError(f"--batch {self.batch}: give a positive batch size")
        exporter_for(self.opset)
        return self


@dataclass
class ExportResult:
    artifacts: Dict[str, Path]
    parity: List[ParityRow] = field(default_factory=list)
    parity_source: str = ""
    parity_path: Optional[Path] = None

    @property
    def ok(self) -> bool:
        return all(r.passed for r in self.parity)

    @property
    def failed(self) -> List[str]:
        return [r.artifact for r in self.parity if not r.passed]


def resized_card(card: ModelCard, imgsz: Optional[int]) -> ModelCard:
    """The card at another input size (``Preprocess.at_size``: resize scales with it)."""
    if imgsz is None or imgsz == card.preprocess.imgsz:
        return card
    return dataclasses.replace(card, preprocess=card.preprocess.at_size(imgsz)).validate()


def artifact_card(card: ModelCard, precision: str, src: ExportSource, cfg: ExportConfig, parent_sha: str) -> ModelCard:
    return card.replace(
        precision=precision,
        provenance={
            "parent": src.checkpoint.name,
            "parent_sha256": parent_sha,
            "torch": torch.__version__.split("+")[0],
            "opset": cfg.opset,
            "batch": cfg.batch or "dynamic",
        },
    )


def check_model_runs(model: torch.nn.Module, card: ModelCard, example: torch.Tensor) -> None:
    """A model that cannot take this input size (simplecnn's head is sized for its training size) or
    whose width disagrees with the card is a user error, not a traceback deep inside an exporter."""
    from ..spec import check_class_count

    try:
        with torch.no_grad():
            out = model(example)
    except RuntimeError as e:
        raise EdgeclassError(
            f"{card.arch} does not accept {card.preprocess.imgsz} px inputs ({str(e).splitlines()[0][:120]}); "
            f"export at the training size or drop --imgsz"
        ) from None
    check_class_count(card, int(out.shape[1]), "checkpoint")


def random_images(n: int, card: ModelCard) -> np.ndarray:
    return np.random.default_rng(0).random((max(n, 1), *card.input_shape), dtype=np.float32)


def parity_images(cfg: ExportConfig, src: ExportSource, card: ModelCard) -> Tuple[np.ndarray, str]:
    """Up to ``cfg.parity_images`` val images of the run's dataset (or ``--data``). When the run names
    no dataset, or the one it names is gone, random images are used and the report says so; a
    ``--data`` that cannot be read is an error."""
    skipped: List[str] = []
    if cfg.data is not None:
        images, _ = split_images(DataSource(cfg.data).load(), card, "val", num=cfg.parity_images, seed=0, skipped=skipped)
        return images, f"{len(images)} val images of {cfg.data}" + _skipped_note(skipped)
    source = DataSource.of_run(src.run)
    if source is None:
        images = random_images(cfg.parity_images, card)
        return images, f"{len(images)} random images (the run names no dataset; pass --data)"
    try:
        images, _ = split_images(source.load(), card, "val", num=cfg.parity_images, seed=0, skipped=skipped)
    except EdgeclassError as e:
        images = random_images(cfg.parity_images, card)
        return images, f"{len(images)} random images (the run's dataset is unusable: {e})"
    return images, f"{len(images)} val images of {source.root}" + _skipped_note(skipped)


def _skipped_note(skipped: List[str]) -> str:
    """The val files the reader refused, named (they are left out of the parity check)."""
    return f"; left out {len(skipped)} that cannot be used: {'; '.join(skipped)}" if skipped else ""


def eager_logits(model: torch.nn.Module, images: np.ndarray, batch: int = 32) -> np.ndarray:
    def fn(x: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(x)).numpy()

    return predict_in_chunks(fn, images, batch)


def artifact_logits(fmt: str, path: Path, images: np.ndarray, batch: Optional[int]) -> np.ndarray:
    if fmt == "torchscript":
        return torchscript_logits(path, images, static_batch=batch)
    return onnx_logits(path, images)


def write_parity(path: Path, rows: List[ParityRow], source: str) -> Path:
    doc = {"images": source, "artifacts": [r.to_dict() for r in rows], "passed": all(r.passed for r in rows)}
    return write_json_atomic(path, doc)


def export(cfg: ExportConfig) -> ExportResult:
    """Write the requested artifacts and check each against PyTorch eager (see ``ExportResult.ok``)."""
    from .fp16 import convert_fp16
    from .torchscript import export_torchscript

    cfg.validate()
    src = resolve_checkpoint(cfg.source, cfg.out)
    model, card = load_model(src.checkpoint)
    card = resized_card(card, cfg.imgsz)
    example = torch.rand(cfg.batch or 1, *card.input_shape)
    check_model_runs(model, card, example)
    parent_sha = sha256_file(src.checkpoint)
    src.out_dir.mkdir(parents=True, exist_ok=True)

    def target(key: str) -> Tuple[ModelCard, Path]:
        fmt = formats.get(key)
        return artifact_card(card, fmt.precision, src, cfg, parent_sha), src.out_dir / fmt.file_name

    artifacts: Dict[str, Path] = {}
    if "torchscript" in cfg.formats:
        artifacts["torchscript"] = export_torchscript(model, *target("torchscript"), example)
    onnx_card, onnx_path = target("onnx")
    if "onnx" in cfg.formats or "onnx-fp16" in cfg.formats:
        export_onnx(model, onnx_card, onnx_path, example, cfg.opset, cfg.batch is None)
        if "onnx" in cfg.formats:
            artifacts["onnx"] = onnx_path
    if "onnx-fp16" in cfg.formats:
        artifacts["onnx-fp16"] = convert_fp16(onnx_path, *target("onnx-fp16"))

    result = ExportResult(artifacts)
    if cfg.parity_images > 0:
        images, result.parity_source = parity_images(cfg, src, card)
        ref = eager_logits(model, images)
        for fmt, path in artifacts.items():
            result.parity.append(compare(path.name, fmt, ref, artifact_logits(fmt, path, images, cfg.batch)))
        result.parity_path = write_parity(src.out_dir / PARITY_FILE, result.parity, result.parity_source)
    return result


def parity_table(result: ExportResult) -> str:
    return f"parity vs PyTorch eager on {result.parity_source}\n" + format_table(result.parity)
