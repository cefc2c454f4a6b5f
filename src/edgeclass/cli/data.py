"""`edgeclass data ...`: split, check, augment, demo. Argument parsing only."""

from __future__ import annotations

import sys

import click

from ..data.hashing import DEFAULT_THRESHOLD
from ..fileio import write_json_atomic
from .options import HASH_BITS, IMAGE_SIZE, NON_NEGATIVE, POSITIVE, SEED, Ratios

_THRESHOLD_HELP = (
    f"near-duplicate threshold in bits of the 64-bit perceptual hash, -1 to 64 (default {DEFAULT_THRESHOLD}); "
    "-1 groups exact duplicates only"
)
_ROOT = click.Path(exists=True, file_okay=False)
_MANIFEST = click.Path(exists=True, dir_okay=False)


@click.group("data")
def data() -> None:
    """Prepare a dataset: split it (duplicates kept together), check it, augment it, or get the demo."""


def _progress() -> bool:
    return sys.stdout.isatty() and sys.stderr.isatty()


@data.command("split")
@click.argument("root", type=_ROOT)
@click.option("--ratios", type=Ratios(), default="0.7,0.15,0.15", show_default=True, help="train,val,test fractions (positive, sum 1)")
@click.option("--seed", type=SEED, default=0, show_default=True, help="same seed, same split")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="manifest path [default: ROOT/splits.csv]")
@click.option("--threshold", type=HASH_BITS, default=DEFAULT_THRESHOLD, show_default=True, help=_THRESHOLD_HELP)
@click.option("--workers", type=POSITIVE, default=None, help="hashing threads [default: CPU count + 2, at most 16]")
@click.option("--resplit", is_flag=True, help="for a ROOT/{train,val,test} tree: ignore the folders' split and re-split")
@click.option("--show", type=NON_NEGATIVE, default=20, show_default=True, help="excluded files listed by name (all are in the record)")
def split_cmd(root, ratios, seed, out, threshold, workers, resplit, show) -> None:
    """Write a grouped, stratified train/val/test manifest for ROOT (copies nothing).

    ROOT is ROOT/<class>/<images> or ROOT/{train,val,test}/<class>/<images>. Identical files,
    near-duplicates (flip, small crop, brightness, JPEG) and NAME__augNNNN copies form one group,
    and a group never straddles splits. Image files that cannot be used are named with the reason
    and listed in splits.report.json beside the manifest.
    """
    from ..data.split import split_folder

    r = split_folder(root, out=out, ratios=ratios, seed=seed, threshold=threshold, workers=workers, progress=_progress(), resplit=resplit)
    r.show = show
    click.echo(r.text())


@data.command("check")
@click.argument("root", type=_ROOT)
@click.option("--manifest", type=_MANIFEST, default=None, help="[default: ROOT/splits.csv if present]")
@click.option("--threshold", type=HASH_BITS, default=DEFAULT_THRESHOLD, show_default=True, help=_THRESHOLD_HELP)
@click.option("--show", type=NON_NEGATIVE, default=20, show_default=True, help="file names listed per problem")
@click.option("--json", "json_path", type=click.Path(dir_okay=False), default=None, help="also write the full report as JSON")
@click.option("--workers", type=POSITIVE, default=None, help="hashing threads")
@click.option("--strict", is_flag=True, help="also fail on unreadable/unusable image files and images the manifest lacks")
def check_cmd(root, manifest, threshold, show, json_path, workers, strict) -> None:
    """Counts per class and split, unreadable files (each named, with the reason), duplicates across
    splits, imbalance.

    Exit status 1 when a val/test image has an exact or near-duplicate in train, a split lacks a
    class, or manifest rows point at missing files (with --strict also for any unreadable or
    unusable image file, or images on disk that the manifest lacks).
    """
    from ..data.check import check_dataset, format_report

    r = check_dataset(root, manifest=manifest, threshold=threshold, workers=workers, progress=_progress(), strict=strict)
    click.echo(format_report(r, show=show))
    if json_path:
        write_json_atomic(json_path, r.to_dict())
    if not r.ok:
        sys.exit(1)


@data.command("augment")
@click.argument("root", type=_ROOT)
@click.option("--per-class", required=True, type=POSITIVE, help="train images per class to reach")
@click.option("--seed", type=SEED, default=0, show_default=True)
@click.option("--manifest", type=_MANIFEST, default=None, help="[default: ROOT/splits.csv]")
def augment_cmd(root, per_class, seed, manifest) -> None:
    """Write augmented copies of TRAIN images (ROOT/<class>/<stem>__augNNNN.jpg) until every class
    has PER_CLASS train images, and add them to the manifest in their source's group. A manifest
    that looks cut short is refused (re-run `data split`), never rewritten."""
    from ..data.augment import augment_train

    r = augment_train(root, per_class, seed=seed, manifest=manifest)
    for c, n in r.per_class.items():
        click.echo(f"  {c}: +{n} -> {r.train_counts[c]} train images")
    if r.unreadable:
        click.echo(f"skipped {len(r.unreadable)} train images that cannot be used:")
        for problem in r.unreadable:
            click.echo(f"  {problem.text()}")
    click.echo(f"wrote {r.written} images; updated {r.manifest}")


@data.command("demo")
@click.argument("dst", type=click.Path(file_okay=False))
@click.option("--size", type=IMAGE_SIZE, default=32, show_default=True, help="image side in pixels (8 to 4096)")
def demo_cmd(dst, size) -> None:
    """Write scikit-learn's handwritten digits (1,797 real scans, 10 classes) as DST/<class>/*.png."""
    from ..data.demo import write_digits

    n = write_digits(dst, size=size)
    click.echo(f"wrote {n} images to {dst}; next: edgeclass data split {dst}")


COMMANDS = [data]
