#!/usr/bin/env bash
# Speed of every artifact for a ResNet-18 at 224 px on this machine (the size edgeclass deploys),
# with `edgeclass bench`. The model is trained for ONE epoch from scratch on the digits demo
# dataset, only so that the accuracy columns compare formats against each other (not a good model).
# Usage: benchmarks/bench_resnet18.sh [WORKDIR]   (default: a temporary folder; the table is printed)
set -euo pipefail
EC="$(cd "$(dirname "$0")/.." && pwd)/.venv/bin/edgeclass"
WORK="${1:-$(mktemp -d)}"
cd "$WORK"
"$EC" data demo datasets/digits
"$EC" data split datasets/digits --seed 0
"$EC" train datasets/digits --arch resnet18 --weights none --epochs 1 --imgsz 224 --name r18 --exist-ok
"$EC" export runs/r18
"$EC" calibrate runs/r18 --num 128
"$EC" bench runs/r18 --batch 16
echo "results in $WORK/runs/r18/bench.md"
