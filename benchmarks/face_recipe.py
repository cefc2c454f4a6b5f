"""Which unfreeze schedule the ``face`` recipe uses: fine-tune a pretrained network on few images per
class with each candidate schedule, and compare test top-1.

With ``--data ROOT`` (class-per-folder aligned face crops of people, split by `edgeclass data split`)
and ``--weights imagenet`` this is the real comparison. These machines have neither an identity-
labelled face set nor ImageNet weights offline, so without ``--data`` it runs a transfer proxy on the
digits demo set: pretrain the network on the first five class names (eight, five, four, nine, one:
the "pretrained backbone"), then fine-tune on the other five with ``--per-class`` TRAIN images per class (like enrolling people with a handful of
photos), everything else from the face recipe (112 px, face augmentation, AdamW, cosine).

    .venv/bin/python benchmarks/face_recipe.py                                    # proxy, resnet18, a few minutes
    .venv/bin/python benchmarks/face_recipe.py --arch mobilenet_v3_large --seeds 0,1
    .venv/bin/python benchmarks/face_recipe.py --data faces --weights imagenet   # on real aligned faces

Prints a Markdown table (test top-1 per schedule and seed, mean).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path
from typing import Dict, List, Optional

# schedule name -> (unfreeze_from, unfreeze_schedule)
CANDIDATES: Dict[str, tuple] = {
    "all layers": ("", None),
    "head only": ("head", None),
    "last stage + head": ("-1", None),
    "0:head,1:-1": (None, "0:head,1:-1"),
    "0:head,1:-1,2:-2": (None, "0:head,1:-1,2:-2"),
    "0:head,2:-1,4:-2": (None, "0:head,2:-1,4:-2"),
}


def proxy_data(root: Path, per_class: int) -> tuple:
    """(root, source manifest: the first five classes whole, target manifest: the other five with
    ``per_class`` TRAIN images each)."""
    from edgeclass.data.demo import write_digits
    from edgeclass.data.manifest import MANIFEST_NAME, read_manifest, write_manifest
    from edgeclass.data.split import split_folder

    write_digits(root)
    split_folder(root, seed=0)
    samples, _ = read_manifest(root / MANIFEST_NAME)
    labels = sorted({s.label for s in samples})
    source, target = labels[:5], labels[5:]
    write_manifest(root / "source.csv", [s for s in samples if s.label in source])
    seen: Dict[str, int] = {}
    keep = []
    for s in samples:
        if s.label not in target:
            continue
        if s.split == "train":
            seen[s.label] = seen.get(s.label, 0) + 1
            if seen[s.label] > per_class:
                continue
        keep.append(s)
    write_manifest(root / "target.csv", keep)
    return root, root / "source.csv", root / "target.csv"


def pretrain(arch: str, root: Path, manifest: Path, args, work: Path) -> Path:
    """A backbone trained on the source classes, saved as a bare state dict without its head."""
    import torch

    from edgeclass.train.archs import arch_info
    from edgeclass.train.checkpoint import load_checkpoint
    from edgeclass.train.config import resolve_config
    from edgeclass.train.trainer import train

    cfg = resolve_config("default", data=str(root), manifest=str(manifest), arch=arch, weights="none", epochs=args.pretrain_epochs,
                         imgsz=args.imgsz, augment="none", batch=32, workers=0, device="cpu", project=str(work), name="pretrain")
    result = train(cfg, log=lambda m: None)
    print(f"# pretrained {arch} on the source classes: test top-1 {result.test.top1:.2%}", file=sys.stderr, flush=True)
    head = arch_info(arch).head
    state = {k: v for k, v in load_checkpoint(result.run_dir / "weights" / "best.pt")["model"].items() if not k.startswith(head + ".")}
    torch.save(state, work / "backbone.pth")
    return work / "backbone.pth"


def finetune(arch: str, root: Path, manifest: Optional[Path], weights: str, schedule: tuple, seed: int, args, work: Path) -> float:
    from edgeclass.train.config import resolve_config
    from edgeclass.train.trainer import train

    unfreeze_from, unfreeze_schedule = schedule
    cfg = resolve_config("face", data=str(root), manifest=str(manifest) if manifest else None, arch=arch, weights=weights,
                         epochs=args.epochs, imgsz=args.imgsz, batch=args.batch, workers=0, device="cpu", seed=seed,
                         patience=0, unfreeze_from=unfreeze_from, unfreeze_schedule=unfreeze_schedule,
                         project=str(work), name="ft")
    return train(cfg, log=lambda m: None).test.top1


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", default="resnet18")
    ap.add_argument("--data", type=Path, default=None, help="aligned face crops, class-per-folder (default: the digits proxy)")
    ap.add_argument("--weights", default=None, help="with --data: imagenet | PATH (default imagenet)")
    ap.add_argument("--imgsz", type=int, default=112)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--per-class", type=int, default=10, help="proxy: TRAIN images per target class")
    ap.add_argument("--pretrain-epochs", type=int, default=3)
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--schedules", default=",".join(CANDIDATES), help="names from: " + "; ".join(CANDIDATES))
    args = ap.parse_args(argv)
    import torch

    torch.set_num_threads(2)
    names = [n for n in CANDIDATES if n in args.schedules]
    seeds = [int(s) for s in args.seeds.split(",")]
    rows: List[tuple] = []
    with tempfile.TemporaryDirectory(prefix="edgeclass-face-recipe-") as tmp:
        work = Path(tmp)
        if args.data is None:
            root, source, target = proxy_data(work / "digits", args.per_class)
            weights, manifest = str(pretrain(args.arch, root, source, args, work / "pre")), target
            what = (f"digits transfer proxy: pretrained on five classes ({args.pretrain_epochs} epochs), fine-tuned on the "
                    f"other five with {args.per_class} TRAIN images per class")
        else:
            root, manifest, weights = args.data, None, args.weights or "imagenet"
            what = f"{args.data}, weights {weights}"
        for name in names:
            tops = [finetune(args.arch, root, manifest, weights, CANDIDATES[name], s, args, work / f"ft-{len(rows)}-{s}") for s in seeds]
            rows.append((name, tops))
            print(f"# {name}: " + ", ".join(f"{t:.2%}" for t in tops), file=sys.stderr, flush=True)
    print(f"{args.arch} at {args.imgsz} px, face recipe, {args.epochs} epochs, seeds {args.seeds}; {what}; "
          f"load average {os.getloadavg()[0]:.1f}\n")
    print("| schedule | " + " | ".join(f"test top-1 seed {s}" for s in seeds) + " | mean |")
    print("|---|" + "---|" * (len(seeds) + 1))
    for name, tops in rows:
        print(f"| {name} | " + " | ".join(f"{t:.2%}" for t in tops) + f" | {sum(tops) / len(tops):.2%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
