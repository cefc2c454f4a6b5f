"""`edgeclass models`: the architectures edgeclass trains. A click group, so more subcommands
(``models fetch NAME``) join it with one decorator each. Plain Python: no torch imported."""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional

import click

from ..train.archs import ARCH_TABLE, Arch, measured


@click.group("models")
def models() -> None:
    """The architectures `edgeclass train --arch` builds: size, speed, freeze points."""


def _ms(row: Optional[Dict[str, Any]], key: str) -> str:
    value = (row or {}).get(key)
    return f"{value:.1f}" if isinstance(value, (int, float)) else "-"


def _speedup(row: Optional[Dict[str, Any]]) -> str:
    fp32, int8 = (row or {}).get("fp32_ms"), (row or {}).get("int8_cpu_ms")
    return f"{fp32 / int8:.2f}x" if fp32 and int8 else "-"


def arch_record(arch: Arch, row: Optional[Dict[str, Any]]) -> Dict[str, Any]:
    """One architecture as ``models list --json`` prints it."""
    return {
        "arch": arch.name, "family": arch.family, "params": arch.params, "gflops_224": arch.gflops,
        "imagenet_top1": arch.imagenet_top1, "weights": f"{arch.weights_enum}.{arch.weights_member}" if arch.has_imagenet else None,
        "head": arch.head, "feature_dim": arch.feature_dim, "default_imgsz": arch.default_imgsz, "min_imgsz": arch.min_imgsz,
        "freeze_points": [{"name": f.name, "about": f.about} for f in arch.freeze_points], "int8": arch.int8,
        "measured": row or None,
    }


def table_lines(archs: List[Arch], bench: Dict[str, Any], freeze: bool) -> List[str]:
    rows = bench.get("archs", {})
    lines = [f"{'arch':<19} {'params':>7} {'GFLOPs':>7} {'ImageNet':>8} {'fp32 ms':>8} {'int8 ms':>8} {'int8 x':>7}  head"]
    other_size = False
    for a in archs:
        row = rows.get(a.name)
        top1 = f"{a.imagenet_top1:.1f}%" if a.imagenet_top1 else "-"
        mark = "*" if row and row.get("latency_imgsz") not in (None, bench.get("latency_imgsz")) else " "
        other_size = other_size or mark == "*"
        lines.append(f"{a.name:<19} {a.params / 1e6:>6.1f}M {a.gflops:>7.2f} {top1:>8} {_ms(row, 'fp32_ms'):>8} "
                     f"{_ms(row, 'int8_cpu_ms'):>8} {_speedup(row):>7}{mark} {a.head}")
        if freeze:
            lines.append(f"{'':<4}freeze points: {', '.join(a.stage_names)}")
    lines.append("")
    lines.append("params and GFLOPs (2 per multiply-add) with a 10-class head at 224 px; ImageNet: top-1 of the weights --weights imagenet loads.")
    if rows:
        lines.append(f"latency: ONNX Runtime CPU, batch 1, {bench.get('threads', '?')} threads, {bench.get('latency_imgsz', '?')} px, "
                     f"int8 = model.int8-cpu.onnx; measured {bench.get('date', '?')} on {bench.get('machine', '?')} ({bench.get('command', 'benchmarks/backbones.py')})")
    else:
        lines.append("latency: not measured yet (run benchmarks/backbones.py --write)")
    if other_size:
        lines.append("* timed at its training size (simplecnn's head is sized for it)")
    return lines


@models.command("list")
@click.argument("names", nargs=-1)
@click.option("--freeze/--no-freeze", default=True, show_default=True, help="Show each architecture's freeze points.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per architecture (with the stored measurements).")
def list_cmd(names, freeze: bool, as_json: bool) -> None:
    """Every architecture (or NAMES): parameters, GFLOPs at 224, ImageNet top-1, measured CPU latency
    fp32 and INT8, the head, and the freeze points --unfreeze-from / --unfreeze-schedule accept."""
    from ..train.archs import arch_info

    archs = [arch_info(n) for n in names] if names else list(ARCH_TABLE.values())
    bench = measured()
    if as_json:
        for a in archs:
            click.echo(json.dumps(arch_record(a, bench.get("archs", {}).get(a.name))))
        return
    click.echo("\n".join(table_lines(archs, bench, freeze)))


COMMANDS = [models]
