"""Training throughput: the trainer against a bare loop, and layer4+fc fine-tuning against full fine-tuning.

    .venv/bin/python benchmarks/train_throughput.py                       # default: a few minutes on 2 CPU cores
    .venv/bin/python benchmarks/train_throughput.py --steps 20 --batch 32 --device cuda

Rows (images/s, higher is better; each measurement skips one warm-up step):
- ``bare``: forward, loss, backward, optimizer step on one in-memory tensor batch (no data loading);
- ``trainer (workers=N)``: ``edgeclass.train.trainer.train_one_epoch`` with the trainer's own data
  pipeline (JPEG decode with OpenCV, the recipe's augmentation, DataLoader with N workers) reading
  640x480 JPEG files like the ones ``edgeclass collect`` writes; same model, batch and resolution;
- ``full`` / ``layer4+fc``: bare loop with every parameter trainable vs frozen before the last stage (``-1``: layer4.0.conv1 on a ResNet)
  (what the seed-resnet101 recipe does).
Prints Markdown tables.
"""

from __future__ import annotations

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

from edgeclass.data.datasets import Augment, train_dataset
from edgeclass.data.manifest import Sample, load_dataset, write_manifest
from edgeclass.spec import ModelCard, Preprocess
from edgeclass.train.freeze import freeze_before, set_frozen_batchnorm_eval
from edgeclass.train.frozen import fast_frozen_forward
from edgeclass.train.models import build_model
from edgeclass.train.trainer import make_loader, train_one_epoch


def make_jpeg_dataset(root: Path, images: int, classes: int = 4, size=(480, 640)) -> Path:
    """``images`` camera-sized JPEGs (smooth gradients + noise, quality 90) in ``classes`` folders, all train."""
    rng = np.random.default_rng(0)
    h, w = size
    yy, xx = np.mgrid[0:h, 0:w]
    samples = []
    for i in range(images):
        c = f"class{i % classes}"
        (root / c).mkdir(parents=True, exist_ok=True)
        base = np.stack([(xx * (i + 1) % 256), (yy * 2 % 256), ((xx + yy) % 256)], axis=2).astype(np.float32)
        img = np.clip(base + rng.normal(0, 12, base.shape), 0, 255).astype(np.uint8)
        name = f"{c}/{i:04d}.jpg"
        cv2.imwrite(str(root / name), img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        split = "train" if i >= 2 * classes else ("val" if i < classes else "test")
        samples.append(Sample(name, c, split))
    write_manifest(root / "splits.csv", samples)
    return root


def model_for(arch: str, imgsz: int, classes: int, device: torch.device):
    card = ModelCard(classes=[f"class{i}" for i in range(classes)], arch=arch, preprocess=Preprocess.for_size(imgsz))
    torch.manual_seed(0)
    return build_model(card).to(device), card


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def bare_images_per_s(model, batch: int, imgsz: int, steps: int, device: torch.device, classes: int) -> float:
    """The minimal loop on one resident batch: the ceiling for any trainer."""
    x = torch.rand(batch, 3, imgsz, imgsz, device=device)
    y = torch.arange(batch, device=device) % classes
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    model.train()
    set_frozen_batchnorm_eval(model)
    start = None
    for i in range(steps + 1):
        if i == 1:  # step 0 is warm-up (allocations, kernel selection)
            sync(device)
            start = time.perf_counter()
        loss = loss_fn(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync(device)
    return steps * batch / (time.perf_counter() - start)


def trainer_images_per_s(model, data, card, batch: int, steps: int, workers: int, augment: str, device: torch.device) -> float:
    """``train_one_epoch`` over (steps + 1) batches of real files; the first batch is warm-up."""
    ds = train_dataset(data, card.preprocess, Augment(kind=augment))
    ds.samples = ds.samples[: (steps + 1) * batch]
    ds.labels = ds.labels[: (steps + 1) * batch]
    loader = make_loader(ds, batch, workers, device)
    opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    loss_fn = torch.nn.CrossEntropyLoss()
    it = iter(loader)
    warm = next(it)  # warm-up step (also starts the workers)
    train_one_epoch(model, [warm], loss_fn, opt, None, device)
    stats = train_one_epoch(model, it, loss_fn, opt, None, device)  # timed from the first fetch
    return stats.images / stats.seconds


def best_of_interleaved(repeats: int, *measures):
    """Run the measurements in turn, ``repeats`` rounds, and keep each one's highest: on a shared
    machine the rows being compared then see the same background load."""
    best = [0.0] * len(measures)
    for _ in range(repeats):
        for i, m in enumerate(measures):
            best[i] = max(best[i], m())
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--arch", default="resnet18", help="model for trainer vs bare")
    ap.add_argument("--freeze-archs", default="resnet18,resnet50", help="models for frozen vs full")
    ap.add_argument("--no-fast-frozen", dest="fast_frozen", action="store_false",
                    help="run the frozen stages as plain eager layers (how the trainer ran before train/frozen.py)")
    ap.add_argument("--imgsz", type=int, default=224)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--steps", type=int, default=4, help="timed steps per measurement (after one warm-up)")
    ap.add_argument("--repeats", type=int, default=3, help="interleaved rounds; the best of each row is reported")
    ap.add_argument("--workers", default="0,1,2", help="DataLoader worker counts to measure")
    ap.add_argument("--augment", default="standard", help="none | flip | standard (trainer rows)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0 = torch default)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    classes = 4
    print(f"machine: {platform.machine()}, {os.cpu_count()} CPU cores, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"device {device}, load average {os.getloadavg()[0]:.1f} at start")
    print(f"batch {args.batch}, {args.imgsz} px, {args.steps} timed steps per measurement (+1 warm-up), best of {args.repeats}\n")

    with tempfile.TemporaryDirectory() as tmp:
        worker_counts = [int(w) for w in args.workers.split(",") if w != ""]
        need = (args.steps + 1) * args.batch + 2 * classes
        data = load_dataset(make_jpeg_dataset(Path(tmp) / "jpegs", need, classes))
        print(f"## trainer vs bare loop ({args.arch}, all layers trainable, augment={args.augment})\n")
        print("| loop | images/s | vs bare |\n| --- | ---: | ---: |")

        def bare_run():
            model, _ = model_for(args.arch, args.imgsz, classes, device)
            return bare_images_per_s(model, args.batch, args.imgsz, args.steps, device, classes)

        def trainer_run(w):
            model, card = model_for(args.arch, args.imgsz, classes, device)
            return trainer_images_per_s(model, data, card, args.batch, args.steps, w, args.augment, device)

        results = best_of_interleaved(args.repeats, bare_run, *[(lambda w=w: trainer_run(w)) for w in worker_counts])
        bare = results[0]
        print(f"| bare (in-memory batch) | {bare:.2f} | 1.00 |")
        for w, t in zip(worker_counts, results[1:]):
            print(f"| trainer (workers={w}) | {t:.2f} | {t / bare:.2f} |", flush=True)

    print("\n## last stage + head (layer4+fc on a ResNet) vs full fine-tuning (bare loop)\n")
    print("| arch | full images/s | last stage + head images/s | speed-up | trainable params |\n| --- | ---: | ---: | ---: | ---: |")
    for arch in [a for a in args.freeze_archs.split(",") if a]:

        def run(frozen: bool):
            model, _ = model_for(arch, args.imgsz, classes, device)
            if frozen:  # as the trainer does it: the frozen stem + layer1-3 run as a folded inference copy
                freeze_before(model.net, "-1", arch)  # the last stage before the head: layer4 on a ResNet
                model = fast_frozen_forward(model, arch) if args.fast_frozen else model
            return bare_images_per_s(model, args.batch, args.imgsz, args.steps, device, classes)

        full, frozen = best_of_interleaved(args.repeats, lambda: run(False), lambda: run(True))
        probe, _ = model_for(arch, args.imgsz, classes, device)
        n_all = sum(p.numel() for p in probe.parameters())
        freeze_before(probe.net, "-1", arch)
        n_train = sum(p.numel() for p in probe.parameters() if p.requires_grad)
        print(f"| {arch} | {full:.2f} | {frozen:.2f} | {frozen / full:.2f}x | {n_train / 1e6:.1f}M of {n_all / 1e6:.1f}M |", flush=True)
    print(f"\nload average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
