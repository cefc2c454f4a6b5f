"""The red-team report's bad inputs through the real commands: every invalid option value the issue
names is a one-line usage error (exit 2); every bad file mixed into a dataset is named with its
reason by `data split` (and its record), `data check`, `train` (metrics.json) and `eval`; a cut
manifest is refused by `data augment`; a bad frame never ends `run`, a bad single image source does."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from edgeclass.cli import cli
from edgeclass.data.manifest import read_manifest
import bad_images as B
from data_helpers import write_photo_tree

ISSUE_OPTIONS = [  # the exact values of issue 15 (args before the positional, so they are parsed first)
    ["train", "--lr", "nan"], ["train", "--label-smoothing", "1.5"], ["train", "--weight-decay", "-1"],
    ["train", "--warmup-epochs", "-1"], ["train", "--step-size", "0"], ["train", "--workers", "-5"],
    ["train", "--patience", "-1"], ["train", "--stop-after", "-1"],
    ["data", "split", "--workers", "-2"], ["data", "split", "--workers", "0"], ["data", "split", "--ratios", "nan,0.5,0.5"],
    ["data", "split", "--threshold", "-5"], ["data", "split", "--threshold", "65"], ["data", "demo", "--size", "0"],
    ["data", "check", "--show", "-1"], ["data", "check", "--threshold", "-7"],
    ["export", "--opset", "99"], ["export", "--parity-images", "-1"], ["calibrate", "--percentile", "150"],
    ["run", "--topk", "0"], ["run", "--topk", "-2"], ["run", "--max-frames", "0"], ["run", "--max-frames", "-1"],
    ["run", "--fps", "0"], ["run", "--fps", "-5"], ["run", "--width", "0", "--height", "0"], ["run", "--device", "nosuch"],
    ["collect", "--classes", "a,,b"],
]


# the peak RSS of this process image (VmHWM; ru_maxrss would carry the parent's over exec on Linux)
PEAK_RSS = ("def peak_rss_mb():\n    for line in open('/proc/self/status'):\n        if line.startswith('VmHWM:'):\n"
            "            return int(line.split()[1]) // 1024\n")


def edgeclass(*args, timeout=120, **kw):
    return subprocess.run([sys.executable, "-m", "edgeclass", *map(str, args)], capture_output=True, text=True, timeout=timeout, **kw)


@pytest.mark.parametrize("args", ISSUE_OPTIONS, ids=" ".join)
def test_the_issues_invalid_options_are_one_line_usage_errors(tmp_path, args):
    positional = {"train": [tmp_path], "data": [tmp_path], "export": [tmp_path], "calibrate": [tmp_path], "run": ["model.onnx"]}
    r = edgeclass(*args, *positional.get(args[0], []))
    assert r.returncode == 2, (args, r.stdout, r.stderr)
    lines = r.stderr.strip().splitlines()
    option = next(a for a in args if a.startswith("--"))
    assert len(lines) == 1 and lines[0].startswith(f"error: Invalid value for '{option}'"), r.stderr


BAD = [k for k in B.kinds() if k.status != "ok" and k.name != "folder.jpg"]  # a folder named x.jpg is a folder
GOOD_ODD = [k for k in B.kinds() if k.status == "ok" and not k.name.startswith("plain")]


@pytest.fixture(scope="module")
def messy_tree(tmp_path_factory) -> Path:
    """Two classes of real photo tiles (the bad and odd files are added by ``fresh``)."""
    root = tmp_path_factory.mktemp("messy") / "photos"
    write_photo_tree(root, every=0)
    return root


def fresh(tree: Path, tmp_path: Path) -> Path:
    """A copy of the photo tiles with every kind of bad file and every odd good file in class a."""
    root = tmp_path / "photos"
    shutil.copytree(tree, root)
    for kind in BAD + GOOD_ODD:
        B.write(root / "a", kind)
    return root


def test_data_split_names_every_bad_file_and_records_it(messy_tree, tmp_path):
    root = fresh(messy_tree, tmp_path)
    res = CliRunner().invoke(cli, ["data", "split", str(root), "--show", "100"])
    assert res.exit_code == 0 and res.exception is None, res.output
    for kind in BAD:
        assert f"a/{kind.name}: {kind.reason}" in res.output, kind.name
    record = json.loads((root / "splits.report.json").read_text())
    assert {(e["path"], e["reason"]) for e in record["excluded"]} == {(f"a/{k.name}", k.reason) for k in BAD}
    listed = {s.path for s in read_manifest(root / "splits.csv")[0]}
    assert {f"a/{k.name}" for k in GOOD_ODD} <= listed  # __underscore.jpg, 16-bit, CMYK, EXIF... are used
    assert not {f"a/{k.name}" for k in BAD} & listed

    res = CliRunner().invoke(cli, ["data", "check", str(root), "--show", "100"])
    assert res.exit_code == 0, res.output  # named, but not a failure without --strict
    for kind in BAD:
        assert f"a/{kind.name}: {kind.reason}" in res.output, kind.name
    assert "not in the manifest" not in res.output  # excluded files are named as unreadable, not as unlisted
    res = CliRunner().invoke(cli, ["data", "check", str(root), "--strict", "--json", str(tmp_path / "check.json")])
    assert res.exit_code == 1 and "UNREADABLE" in res.output
    report = json.loads((tmp_path / "check.json").read_text())
    assert len(report["unreadable"]) == len(BAD) and not report["ok"]


def test_train_on_the_fly_counts_and_lists_every_excluded_file(messy_tree, tmp_path):
    root = fresh(messy_tree, tmp_path)
    res = CliRunner().invoke(cli, ["train", str(root), "--recipe", "demo", "--epochs", "2", "--stop-after", "1", "--device", "cpu",
                                   "--project", str(tmp_path / "runs"), "--name", "fly"])
    assert res.exit_code == 0 and f"left out {len(BAD)} image files" in res.output, res.output
    res = CliRunner().invoke(cli, ["train", "--resume", str(tmp_path / "runs" / "fly" / "weights" / "last.pt")])
    assert res.exit_code == 0, res.output  # the resumed run reads the run's own splits.csv and its record
    metrics = json.loads((tmp_path / "runs" / "fly" / "metrics.json").read_text())
    assert metrics["skipped_count"] == len(BAD) == len(metrics["skipped_images"])
    assert {(Path(u["path"]).name, u["reason"]) for u in metrics["unreadable_images"]} == {(k.name, k.reason) for k in BAD}


def test_augment_refuses_a_cut_manifest_and_survives_a_16000_px_image(messy_tree, tmp_path):
    root = fresh(messy_tree, tmp_path)
    assert CliRunner().invoke(cli, ["data", "split", str(root)]).exit_code == 0
    manifest = root / "splits.csv"
    whole = manifest.read_bytes()
    for cut in (whole[: len(whole) // 2], whole[: whole.rindex(b"\n", 0, len(whole) // 2) + 1]):  # mid-line, at a line end
        manifest.write_bytes(cut)
        res = CliRunner().invoke(cli, ["data", "augment", str(root), "--per-class", "40"])
        assert res.exit_code == 2 and "cut short" in res.output and res.output.count("\n") == 1, res.output
        assert manifest.read_bytes() == cut  # never rewritten
    manifest.write_bytes(whole)
    samples, _ = read_manifest(manifest)
    victim = next(s for s in samples if s.split == "train" and s.label == "a")
    B.big_grey_png(root / victim.path, 16_000)  # a valid 256 MP PNG in the train split
    code = ("import sys\nfrom edgeclass.cli import main\nsys.argv = ['edgeclass', 'data', 'augment', sys.argv[1], '--per-class', '60']\n"
            "try:\n    main()\nfinally:\n    print('maxrss_mb', peak_rss_mb(), file=sys.stderr)\n")
    code = PEAK_RSS + code
    r = subprocess.run([sys.executable, "-c", code, str(root)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"{victim.path}: too large (16000x16000" in r.stdout
    assert int(r.stderr.split("maxrss_mb")[1]) < 600, r.stdout + r.stderr  # decoding it would take 768 MB for RGB alone


def test_a_presplit_tree_without_test_warns(tmp_path):
    root = tmp_path / "pre"
    write_photo_tree(tmp_path / "src", every=0)
    for split, sl in (("train", slice(0, 20)), ("val", slice(20, 27))):
        for c in ("a", "b"):
            (root / split / c).mkdir(parents=True)
            for p in sorted((tmp_path / "src" / c).iterdir())[sl]:
                shutil.copy(p, root / split / c / p.name)
    res = CliRunner().invoke(cli, ["data", "split", str(root)])
    assert res.exit_code == 0 and "no test/ folder: 0 test images" in res.output, res.output
    res = CliRunner().invoke(cli, ["data", "check", str(root)])
    assert "no test/ folder" in res.output
    res = CliRunner().invoke(cli, ["train", str(root), "--recipe", "demo", "--project", str(tmp_path / "runs")])
    assert res.exit_code == 2 and "no test/ folder" in res.output and not (tmp_path / "runs").exists()


def test_run_never_stops_on_a_bad_frame_but_refuses_a_bad_single_image(trained_run, tmp_path):
    model = trained_run / "weights" / "best.pt"
    frames = tmp_path / "frames"
    for i in range(3):
        (frames / f"good{i}.png").parent.mkdir(exist_ok=True)
        (frames / f"good{i}.png").write_bytes(B.encode(B.photo(32, 32, seed=i), ".png"))
    for kind in BAD:
        B.write(frames, kind)
    out = tmp_path / "out.jsonl"
    r = edgeclass("run", model, "--source", frames, "--json", out, "--device", "cpu", timeout=180)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert len(out.read_text().splitlines()) == 3  # every good frame, past every bad one
    assert f"skipped {len(BAD)} image files that cannot be used" in r.stderr
    for kind in BAD:
        assert f"{kind.name}: {kind.reason}" in r.stderr, kind.name
    for kind in (k for k in BAD if k.name in ("tiny.png", "bomb.png", "html.jpg", "cut-half.jpg", "loop.jpg", "fifo.jpg")):
        r = edgeclass("run", model, "--source", frames / kind.name, "--device", "cpu", timeout=60)
        assert r.returncode == 2 and r.stderr.count("\n") == 1 and f"{kind.name}: {kind.reason}" in r.stderr, (kind.name, r.stderr)


def test_eval_names_a_bomb_and_a_truncated_file_in_the_test_split(trained_run, digits_root, tmp_path):
    root = tmp_path / "digits"
    shutil.copytree(digits_root, root)
    samples, _ = read_manifest(root / "splits.csv")
    test = [s for s in samples if s.split == "test"]
    (root / test[0].path).write_bytes(B.png_header_bomb())
    (root / test[1].path).write_bytes((root / test[2].path).read_bytes()[:40])
    r = edgeclass("eval", trained_run / "weights" / "best.pt", "--data", root, "--out", tmp_path / "eval", "--device", "cpu", timeout=180)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert "skipped 2 unreadable images" in r.stdout and "too large" in r.stdout
    result = json.loads(next((tmp_path / "eval").glob("*.json")).read_text())
    assert sorted(s.split(":")[0] for s in result["skipped"]) == sorted(str(root / s.path) for s in test[:2])
