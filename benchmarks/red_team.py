"""Re-measures the red-team numbers of issue 15 with the real commands, each a subprocess with a timeout.

    .venv/bin/python benchmarks/red_team.py                   # everything, 10 kills (~10 min on 2 busy cores)
    .venv/bin/python benchmarks/red_team.py --kills 4 --quick # a sample of the option values, 4 kills

1. Bad option values: every option of every command, walked from the click tree, with the invalid
   values of its type (tests/helpers/option_walk.py): each must be refused (exit != 0), in one line.
2. Bad files (tests/helpers/bad_images.py: empty, truncated JPEG/PNG/WebP/BMP, HTML/text/GIF/TIFF
   named as images, random bytes, bad CRC, header bombs, a symlink loop, a dangling link, a FIFO,
   1x1 and 1xN images) mixed into a photo dataset, through `data split`, `data check`, `data check
   --strict`, `train` (split on the fly: metrics.json), `eval`, `run --source FOLDER`; each one as
   the only `--source`; a manifest cut in half (mid-line and at a line end) given to `data augment`;
   a valid 16000 x 16000 PNG in the train split of `data augment`.
3. Broken model files (text, zero bytes, random bytes, HTML, cut in half) given to `run`, `eval`,
   `export`, `calibrate`; dead streams (`run --source rtsp://127.0.0.1:1/x`).
4. kill -9 at random moments of a small training (startup, epochs, the final phase), then
   `--resume` (or a restart when no last.pt was written yet) until the run completes; compared
   with an uninterrupted run: last.pt weights and metrics.json bit-exact.

A traceback anywhere, an accepted bad input (exit 0 where a refusal is due), a bad file a command
does not name with its reason, or a timeout is counted; the table lists the failures by name.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Sequence

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "tests" / "helpers")]

import bad_images as B  # noqa: E402
from data_helpers import write_photo_tree  # noqa: E402
from option_walk import all_cases, argv  # noqa: E402

EC = [sys.executable, "-m", "edgeclass"]
BAD = [k for k in B.kinds() if k.status != "ok" and k.name != "folder.jpg"]


@dataclass
class Tally:
    inputs: int = 0  # bad inputs tried
    runs: int = 0  # command runs
    tracebacks: int = 0
    silent: int = 0  # a bad input accepted without a word
    hangs: int = 0
    to_name: int = 0  # (bad file, command) pairs that must name the file
    named: int = 0
    failures: List[str] = field(default_factory=list)

    def call(self, args: Sequence, timeout: float = 120, env=None):
        self.runs += 1
        try:
            r = subprocess.run([*EC, *map(str, args)], capture_output=True, text=True, timeout=timeout, env=env, cwd=REPO)
        except subprocess.TimeoutExpired:
            self.hangs += 1
            self.failures.append(f"hang: {' '.join(map(str, args))[:120]}")
            return None
        if "Traceback" in r.stderr or "Traceback" in r.stdout:
            self.tracebacks += 1
            self.failures.append(f"traceback: {' '.join(map(str, args))[:120]}")
        return r

    def refused(self, label: str, args: Sequence, timeout: float = 120, one_line: bool = True) -> None:
        """A bad input: exit != 0 with a one-line error."""
        self.inputs += 1
        r = self.call(args, timeout)
        if r is None:
            return
        if r.returncode == 0:
            self.silent += 1
            self.failures.append(f"accepted: {label}")
        elif one_line and len([ln for ln in r.stderr.splitlines() if ln.strip()]) != 1:
            self.failures.append(f"not one line: {label}: {r.stderr[:160]!r}")

    def names(self, label: str, text: str, kinds=BAD, prefix: str = "") -> None:
        for k in kinds:
            self.to_name += 1
            if f"{prefix}{k.name}: {k.reason}" in text:
                self.named += 1
            else:
                self.failures.append(f"not named by {label}: {k.name} ({k.reason})")


def options(t: Tally, tmp: Path, quick: bool) -> None:
    cases = all_cases(tmp)
    if quick:
        cases = random.Random(0).sample(cases, min(80, len(cases)))
    (tmp / "a-file").write_text("x")
    for where, name, value in cases:
        t.refused(f"{where} {name}={value!r}", argv(where, name, value), timeout=60)


def messy_dataset(root: Path) -> Path:
    write_photo_tree(root, every=0)
    for kind in BAD:
        B.write(root / "a", kind)
    return root


def files(t: Tally, tmp: Path, model: Path, digits_src: Path) -> None:
    root = messy_dataset(tmp / "messy")
    t.inputs += len(BAD)
    r = t.call(["data", "split", root, "--show", "1000"])
    t.names("data split", r.stdout if r else "", prefix="a/")
    r = t.call(["data", "check", root, "--show", "1000"])
    t.names("data check", r.stdout if r else "", prefix="a/")
    t.refused("data check --strict with bad files", ["data", "check", root, "--strict"], one_line=False)
    fly = messy_dataset(tmp / "fly")
    r = t.call(["train", fly, "--recipe", "demo", "--epochs", "1", "--device", "cpu", "--project", tmp / "runs", "--name", "fly"], 600)
    metrics = tmp / "runs" / "fly" / "metrics.json"
    listed = {(Path(u["path"]).name, u["reason"]) for u in json.loads(metrics.read_text())["unreadable_images"]} if metrics.is_file() else set()
    t.names("train (metrics.json)", "\n".join(f"{n}: {r_}" for n, r_ in listed))
    if r is not None and metrics.is_file() and json.loads(metrics.read_text())["skipped_count"] != len(BAD):
        t.failures.append("train: skipped_count is not the number of bad files")

    frames = tmp / "frames"
    frames.mkdir()
    for i in range(3):
        (frames / f"good{i}.png").write_bytes(B.encode(B.photo(32, 32, seed=i), ".png"))
    for kind in BAD:
        B.write(frames, kind)
    t.inputs += len(BAD)
    r = t.call(["run", model, "--source", frames, "--json", tmp / "frames.jsonl", "--device", "cpu"], 300)
    if r is not None and (r.returncode != 0 or len((tmp / "frames.jsonl").read_text().splitlines()) != 3):
        t.failures.append("run --source FOLDER stopped before the last good frame")
    t.names("run --source FOLDER", r.stderr if r else "")
    for kind in BAD:
        t.refused(f"run --source {kind.name}", ["run", model, "--source", frames / kind.name, "--device", "cpu"], 120)

    digits = tmp / "digits-eval"
    shutil.copytree(digits_src, digits)
    rows = (digits / "splits.csv").read_text().splitlines()[1:]
    test = [r_.split(",")[0] for r_ in rows if r_.split(",")[2] == "test"][: len(BAD)]
    evil = []
    for rel, kind in zip(test, (k for k in BAD if k.make is None)):
        (digits / rel).write_bytes(kind.data)
        evil.append(B.Kind(Path(rel).name, kind.status, kind.reason))
    t.inputs += len(evil)
    r = t.call(["eval", model, "--data", digits, "--out", tmp / "eval", "--device", "cpu"], 300)
    t.names("eval", r.stdout if r else "", kinds=evil)

    aug = tmp / "aug"
    messy_dataset(aug)
    t.call(["data", "split", aug])
    manifest = aug / "splits.csv"
    whole = manifest.read_bytes()
    for label, cut in (("mid-line", whole[: len(whole) // 2]), ("line end", whole[: whole.rindex(b"\n", 0, len(whole) // 2) + 1])):
        manifest.write_bytes(cut)
        t.refused(f"data augment, manifest cut ({label})", ["data", "augment", aug, "--per-class", "60"])
        if manifest.read_bytes() != cut:
            t.failures.append(f"data augment rewrote a cut manifest ({label})")
    manifest.write_bytes(whole)
    victim = next(r_.split(",")[0] for r_ in whole.decode().splitlines()[1:] if r_.split(",")[2] == "train")
    B.big_grey_png(aug / victim, 16_000)
    t.inputs += 1
    r = t.call(["data", "augment", aug, "--per-class", "60"], 600)
    t.to_name += 1
    if r is not None and r.returncode == 0 and f"{victim}: too large" in r.stdout:
        t.named += 1
    else:
        t.failures.append("data augment: the 16000 px PNG was not named as too large")


def _digits(dst: Path) -> None:
    subprocess.run([*EC, "data", "demo", dst], check=True, capture_output=True)
    subprocess.run([*EC, "data", "split", dst], check=True, capture_output=True)


def models_and_streams(t: Tally, tmp: Path, run: Path) -> None:
    real = run / "weights" / "best.pt"
    broken = {"text.pt": b"my notes\n", "empty.onnx": b"", "random.onnx": os.urandom(4096), "page.onnx": b"<html>404</html>",
              "cut.pt": real.read_bytes()[: real.stat().st_size // 2]}
    for name, data in broken.items():
        path = tmp / "models" / name
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(data)
        t.refused(f"run {name}", ["run", path, "--source", tmp / "frames" / "good0.png", "--device", "cpu"])
        t.refused(f"eval {name}", ["eval", path, "--data", tmp / "messy", "--device", "cpu"])
        t.refused(f"export {name}", ["export", path, "--out", tmp / "exp"])
        t.refused(f"calibrate {name}", ["calibrate", path, "--data", tmp / "messy"])
    for url in ("rtsp://127.0.0.1:1/stream", "http://127.0.0.1:1/video.mjpg"):
        t.refused(f"run --source {url}", ["run", real, "--source", url, "--no-reconnect", "--device", "cpu"], 90, one_line=False)


def train_args(data: Path, manifest: Path, project: Path, name: str) -> list:
    return ["train", data, "--manifest", manifest, "--recipe", "demo", "--epochs", "3", "--augment", "standard", "--device", "cpu",
            "--project", project, "--name", name, "--exist-ok"]


def timed_lines(args, marker=None, delay=None):
    """Run; kill -9 ``delay`` seconds after the first line containing ``marker`` (after the start
    when ``marker`` is ""; never when ``delay`` is None). (returncode, [(seconds, line)])."""
    import threading

    proc = subprocess.Popen([*EC, *map(str, args)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"}, cwd=REPO)
    timer = None

    def arm():
        nonlocal timer
        timer = threading.Timer(delay, lambda: proc.poll() is None and proc.send_signal(signal.SIGKILL))
        timer.start()

    if delay is not None and not marker:
        arm()
    t0, lines = time.perf_counter(), []
    for line in proc.stdout:
        lines.append((time.perf_counter() - t0, line))
        if delay is not None and marker and timer is None and marker in line:
            arm()
    proc.wait(600)
    if timer is not None:
        timer.cancel()
    return proc.returncode, lines


def phase_of(lines) -> str:
    text = "".join(line for _, line in lines)
    if "test top-1" in text:
        return "done"
    if "epoch 3/3" in text or "finishing" in text:
        return "final phase"
    if "epoch 1/3" in text:
        return "epochs"
    return "startup"


def kills(t: Tally, tmp: Path, data: Path, n: int, seed: int) -> List[str]:
    import torch

    from edgeclass.train.checkpoint import load_checkpoint

    rows = [r for r in (data / "splits.csv").read_text().splitlines()]
    manifest = tmp / "subset.csv"
    keep, counts = [rows[0]], {}
    for r in rows[1:]:
        label, split = r.split(",")[1:3]
        if counts.get((label, split), 0) < {"train": 8, "val": 3, "test": 3}[split]:
            counts[(label, split)] = counts.get((label, split), 0) + 1
            keep.append(r)
    manifest.write_text("\n".join(keep) + "\n")
    rc, lines = timed_lines(train_args(data, manifest, tmp / "runs", "straight"))
    assert rc == 0, "".join(line for _, line in lines)
    marks = {"epoch": next(s for s, line in lines if "epoch 1/3" in line), "last": next(s for s, line in lines if "epoch 3/3" in line),
             "end": lines[-1][0]}
    want = load_checkpoint(tmp / "runs" / "straight" / "weights" / "last.pt")["model"]
    want_metrics = json.loads((tmp / "runs" / "straight" / "metrics.json").read_text())
    rng = random.Random(seed)
    results = []
    # one kill aimed at each phase in turn (startup, the epochs, the final phase), the rest anywhere
    windows = [("", 0.3, marks["epoch"]), ("epoch 1/3", 0.0, marks["last"] - marks["epoch"]), ("epoch 3/3", 0.0, marks["end"] - marks["last"])]
    for i in range(n):
        marker, lo, hi = windows[i % 3] if i < 3 * (n // 3) else ("", 0.3, marks["end"])
        name = f"kill{i}"
        _, before = timed_lines(train_args(data, manifest, tmp / "runs", name), marker, rng.uniform(lo, hi))
        phase, run = phase_of(before), tmp / "runs" / name
        for _ in range(4):
            if (run / "metrics.json").is_file() and json.loads((run / "metrics.json").read_text()).get("epochs_done") == 3:
                break
            last = run / "weights" / "last.pt"
            t.runs += 1
            timed_lines(["train", "--resume", last] if last.is_file() else train_args(data, manifest, tmp / "runs", name))
        got_metrics = json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").is_file() else None
        got = load_checkpoint(run / "weights" / "last.pt")["model"] if (run / "weights" / "last.pt").is_file() else {}
        exact = got_metrics == want_metrics and all(torch.equal(want[k], got.get(k, torch.empty(0))) for k in want)
        stale = [p.name for p in run.rglob(".*.tmp*")]
        results.append((phase, exact and not stale))
        if not exact or stale:
            t.failures.append(f"kill {i} ({phase}): {'not bit-exact' if not exact else ''} {'stale ' + ','.join(stale) if stale else ''}")
    return [f"{sum(ok for _, ok in results)}/{len(results)}"] + sorted({p for p, _ in results})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kills", type=int, default=10)
    ap.add_argument("--quick", action="store_true", help="80 sampled option values instead of all")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t = Tally()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        options(t, tmp, args.quick)
        _digits(tmp / "digits")
        kill_summary = kills(t, tmp, tmp / "digits", args.kills, args.seed)
        files(t, tmp, tmp / "runs" / "straight" / "weights" / "best.pt", tmp / "digits")
        models_and_streams(t, tmp, tmp / "runs" / "straight")
    rows = [
        ("bad inputs tried", t.inputs), ("command runs", t.runs), ("tracebacks", t.tracebacks), ("silent accepts", t.silent),
        ("unreadable files named", f"{t.named}/{t.to_name} ({100 * t.named / max(t.to_name, 1):.0f}%)"), ("hangs (timeouts)", t.hangs),
        ("kills resumed bit-exact", f"{kill_summary[0]} (phases hit: {', '.join(kill_summary[1:])})"),
        ("wall time", f"{time.perf_counter() - started:.0f} s"),
    ]
    print("| measure | value |\n| --- | --- |")
    for k, v in rows:
        print(f"| {k} | {v} |")
    for f in t.failures:
        print(f"- {f}")
    return 1 if t.failures else 0


if __name__ == "__main__":
    sys.exit(main())
