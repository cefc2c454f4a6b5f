"""`edgeclass train`: argument parsing only; the work is in ``edgeclass.train.trainer``.

Every recipe field has an option whose default is "take it from the recipe" (None), so the
resolved configuration is recipe first, then what the user typed. torch is imported in the body.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import click

from ..train.config import ARCHS, AUGMENTATIONS, HEADS, OPTIMIZERS, RECIPES, SCHEDULERS  # plain Python: no torch here
from .options import FRACTION, IMAGE_SIZE, NON_NEGATIVE, NON_NEGATIVE_FLOAT, POSITIVE, POSITIVE_FLOAT, SEED, Device, Finite, Name


@click.command("train")
@click.argument("root", required=False, type=click.Path(path_type=Path))
@click.option("--arch", default=None, help=f"Model: {', '.join(ARCHS)} (sizes, speed, freeze points: `edgeclass models list`). [default: the recipe's (demo: simplecnn), else resnet18]")
@click.option("--recipe", type=click.Choice(list(RECIPES)), default=None, help="Preset. [default: default]")
@click.option("--weights", default=None, help="imagenet (downloaded once into the torch hub cache) | none | PATH (.pth state dict or our .pt). [default: imagenet, none for simplecnn]")
@click.option("--manifest", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Split manifest. [default: ROOT/splits.csv when present]")
@click.option("--epochs", type=POSITIVE, default=None, help="Epochs (recipe value unless given).")
@click.option("--batch", type=POSITIVE, default=None, help="Training batch, summed over all processes.")
@click.option("--val-batch", type=POSITIVE, default=None, help="Batch for validation and test.")
@click.option("--imgsz", type=IMAGE_SIZE, default=None, help="Input size in pixels. [default: 224; face recipe: 112; demo recipe: 32]")
@click.option("--crop-ratio", type=Finite(0.2, 1.0), default=None, help="Eval crop / resize (1 = resize the whole image, cut nothing). [default: the weights' own, 224/256; face recipe: 1]")
@click.option("--head", type=click.Choice(HEADS), default=None, help="Classification head. [default: linear]")
@click.option("--optimizer", type=click.Choice(OPTIMIZERS), default=None)
@click.option("--lr", type=POSITIVE_FLOAT, default=None, help="Base learning rate (> 0).")
@click.option("--weight-decay", type=NON_NEGATIVE_FLOAT, default=None)
@click.option("--scheduler", type=click.Choice(SCHEDULERS), default=None)
@click.option("--warmup-epochs", type=NON_NEGATIVE_FLOAT, default=None, help="cosine: linear warm-up length in epochs.")
@click.option("--step-size", type=POSITIVE, default=None, help="step: epochs between lr drops.")
@click.option("--gamma", type=FRACTION, default=None, help="step: lr multiplier at each drop, in (0, 1].")
@click.option("--label-smoothing", type=Finite(0, 1, max_open=True), default=None, help="In [0, 1).")
@click.option("--augment", type=click.Choice(AUGMENTATIONS), default=None, help="(standard: RandomResizedCrop + flip + colour jitter; face: mild near-square crops + flip + jitter).")
@click.option("--unfreeze-from", default=None, help="Freeze every parameter before this name: a freeze point of the arch (ResNet: conv1, layer1-4, fc; others: `edgeclass models list`), head, -1 (last stage), -2, ... or a parameter prefix such as layer4.0.conv1 ('none' trains all).")
@click.option("--unfreeze-schedule", default=None, help="Gradual unfreezing EPOCH:STAGE,..., e.g. 0:fc,3:layer4,6:layer3 or, for any arch, 0:head,3:-1,6:-2.")
@click.option("--unfreeze-lr-decay", type=FRACTION, default=None, help="lr factor per later schedule stage. [default: 0.3]")
@click.option("--patience", type=NON_NEGATIVE, default=None, help="Early stopping: epochs without better val top-1 (0 = off).")
@click.option("--project", type=click.Path(file_okay=False), default=None, help="Folder that holds the runs. [default: runs]")
@click.option("--name", type=Name(), default=None, help="Run name: PROJECT/NAME (NAME-2, NAME-3... if taken). [default: the arch]")
@click.option("--exist-ok", is_flag=True, default=None, help="Reuse PROJECT/NAME instead of incrementing.")
@click.option("--device", type=Device(auto=True, index=False), default=None, help="auto | cpu | cuda | cuda:N. [default: auto]")
@click.option("--workers", type=NON_NEGATIVE, default=None, help="DataLoader worker processes. [default: 0 on CPU, up to 8 on CUDA]")
@click.option("--seed", type=SEED, default=None, help="Random seed (split on the fly, init, shuffling). [default: 0]")
@click.option("--no-amp", "amp", flag_value=False, default=None, help="Disable mixed precision on CUDA.")
@click.option("--stop-after", type=NON_NEGATIVE, default=None, help="Stop after N epochs of this invocation (resume later; 0 = never).")
@click.option("--resume", default=None, type=click.Path(exists=True, dir_okay=False, path_type=Path), help="Carry on a run: runs/<name>/weights/last.pt.")
def train_cmd(root: Optional[Path], resume: Optional[Path], recipe: Optional[str], **options) -> None:
    """Train a classifier on ROOT (class-per-folder, pre-split, or with a splits.csv manifest).

    \b
    Examples:
      edgeclass train datasets/digits --arch simplecnn --recipe demo
      edgeclass train photos --arch resnet101 --recipe seed-resnet101 --epochs 20
      edgeclass train --resume runs/resnet101/weights/last.pt
      torchrun --nproc_per_node 2 -m edgeclass train photos --arch resnet50
    """
    from ..errors import EdgeclassError
    from ..train.config import resolve_config
    from ..train.trainer import resume_config, train

    if options.get("unfreeze_from") == "none":
        options["unfreeze_from"] = ""
    if options.get("manifest") is not None:
        options["manifest"] = str(options["manifest"])
    if root is not None:
        options["data"] = str(root)
    if resume is not None:
        if recipe is not None:
            options["recipe"] = recipe
        cfg, state = resume_config(str(resume), options)
    else:
        if root is None:
            raise EdgeclassError("give the dataset folder ROOT (or --resume runs/<name>/weights/last.pt)")
        cfg, state = resolve_config(recipe or "default", **options), None
    train(cfg, resume=state, log=lambda msg: click.echo(msg))


COMMANDS = [train_cmd]
