"""`--config run.toml|run.yaml` against the real `edgeclass run` options, the example config, and the
systemd unit that `make install-service` installs (checked in dry-run only)."""

from __future__ import annotations

import os
import shutil
import subprocess

import click
import pytest
from click.testing import CliRunner

from edgeclass.cli.run import run_cmd
from edgeclass.errors import EdgeclassError
from edgeclass.runtime.config import config_default_map, config_keys, use_config
from serve_helpers import REPO

# the options phase 2 of issue 13 adds to `edgeclass run`; used here only where run does not have them yet
PHASE2 = [click.Option(["--serve"]), click.Option(["--serve-token"]), click.Option(["--events"]),
          click.Option(["--webhook"]), click.Option(["--mqtt"]), click.Option(["--snapshots"])]


def run_with_outputs() -> click.Command:
    known = {p.name for p in run_cmd.params}
    return click.Command("run", params=run_cmd.params + [p for p in PHASE2 if p.name not in known])


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return str(p)


def test_toml_and_yaml_give_the_same_options_converted_by_their_click_types(tmp_path):
    toml = write(tmp_path, "run.toml", 'model = "m.onnx"\nsource = ["0", "rtsp://cam/1"]\nroi = "face"\n'
                                       'max-frames = 100\nsmooth = 1\nshow = true\nface_pad = 0.3\njson = "-"\n')
    yaml = write(tmp_path, "run.yaml", "model: m.onnx\nsource: ['0', 'rtsp://cam/1']\nroi: face\n"
                                       "max_frames: 100\nsmooth: 1\nshow: true\nface-pad: 0.3\njson: '-'\n")
    expected = {"model": "m.onnx", "sources": ["0", "rtsp://cam/1"], "roi": "face", "max_frames": 100, "smooth": 1.0,
                "show": True, "face_pad": 0.3, "json_path": "-"}
    assert config_default_map(toml, run_cmd) == expected
    assert config_default_map(yaml, run_cmd) == expected
    assert config_default_map(write(tmp_path, "one.toml", "source = 0\n"), run_cmd) == {"sources": ["0"]}
    assert config_default_map(write(tmp_path, "empty.yaml", ""), run_cmd) == {}


@pytest.mark.parametrize("text, message", [
    ("threshhold = 0.5", "unknown key 'threshhold' (did you mean 'threshold'?)"),
    ("colour = 1", "unknown key 'colour'; known keys: "),
    ('roi = "faces"', "roi = 'faces': 'faces' is not one of 'full', 'face'"),
    ('max-frames = "many"', "max-frames = 'many': 'many' is not a valid integer"),
    ("max-frames = 2.5", "max-frames = 2.5: give a whole number"),
    ("stride = true", "stride = True: expected integer, not true/false"),
    ('show = "yes"', "show = 'yes': give true or false"),
    ('roi = ["face"]', "roi = ['face']: roi takes one value, not a list"),
    ("max-frames = 1\nmax_frames = 2", "'max_frames' repeats an option"),
    ("[roi]\nkind = 1", "roi = {'kind': 1}: give a value"),
    ("roi = \n", "not valid TOML"),
    ("config = 'other.toml'", "unknown key 'config'"),
])
def test_a_bad_key_or_value_is_one_line_naming_file_and_key(tmp_path, text, message):
    path = write(tmp_path, "run.toml", text + "\n")
    with pytest.raises(EdgeclassError) as e:
        config_default_map(path, run_cmd)
    assert message in str(e.value) and str(e.value).startswith(f"--config {path}:") and "\n" not in str(e.value)


def test_yaml_is_plain_data_only_and_bad_files_are_one_line(tmp_path):
    hostile = write(tmp_path, "run.yaml", "model: !!python/object/apply:os.system ['touch pwned']\n")
    with pytest.raises(EdgeclassError, match="not valid YAML") as e:
        config_default_map(hostile, run_cmd)
    assert "\n" not in str(e.value) and not (tmp_path / "pwned").exists()
    for path, message in ((write(tmp_path, "list.yaml", "- a\n- b\n"), "must hold a table"),
                          (write(tmp_path, "run.json", "{}"), "give a .toml or .yaml file"),
                          (str(tmp_path / "missing.toml"), "cannot read it"),
                          (write(tmp_path, "bad.yaml", "a: [1,\n"), "not valid YAML")):
        with pytest.raises(EdgeclassError, match=message):
            config_default_map(path, run_cmd)


def test_config_option_sets_defaults_the_command_line_overrides(tmp_path):
    @click.command()
    @click.option("--config", is_eager=True, expose_value=False, callback=use_config)
    @click.argument("model")
    @click.option("--source", "sources", multiple=True)
    @click.option("--fps", type=float)
    def cmd(model, sources, fps):
        click.echo(f"{model} {list(sources)} {fps}")

    path = write(tmp_path, "run.toml", 'model = "m.onnx"\nsource = ["0", "1"]\nfps = 10\n')
    assert CliRunner().invoke(cmd, ["--config", path]).output == "m.onnx ['0', '1'] 10.0\n"
    assert CliRunner().invoke(cmd, ["other.onnx", "--fps", "5", "--config", path]).output == "other.onnx ['0', '1'] 5.0\n"


def test_the_example_config_is_valid_for_run():
    example = REPO / "deploy" / "run.example.toml"
    options = config_default_map(str(example), run_with_outputs())
    assert options["roi"] == "face" and options["sources"] == ["0"] and options["serve"] == "0.0.0.0:8080"
    assert {"model", "serve_token", "events", "snapshots"} <= set(options)
    assert "serve-token" in config_keys(run_with_outputs())


def render_dry_run(edgeclass: str) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(REPO / "deploy" / "install-service.sh"), "--dry-run", "--edgeclass", edgeclass],
                          capture_output=True, text=True, timeout=30)


def unit_from(dry_run_output: str) -> str:
    """The unit file text a dry run would write (its indented block)."""
    lines = dry_run_output.split("would write /etc/systemd/system/edgeclass.service")[1].splitlines()[1:]
    unit = []
    for line in lines:
        if not line.startswith("    "):
            break
        unit.append(line[4:])
    return "\n".join(unit) + "\n"


def test_install_service_dry_run_shows_the_unit_and_changes_nothing(tmp_path):
    before = {p: os.path.exists(p) for p in ("/etc/systemd/system/edgeclass.service", "/etc/edgeclass", "/var/lib/edgeclass")}
    exe = str(REPO / ".venv" / "bin" / "edgeclass")
    res = render_dry_run(exe)
    assert res.returncode == 0, res.stderr
    assert {p: os.path.exists(p) for p in before} == before
    unit = unit_from(res.stdout)
    assert f"ExecStart={exe} run --config /etc/edgeclass/run.toml" in unit
    for line in ("Restart=on-failure", "KillSignal=SIGTERM", "TimeoutStopSec=", "User=edgeclass",
                 "WorkingDirectory=/var/lib/edgeclass", "WantedBy=multi-user.target"):
        assert line in unit
    assert "@EDGECLASS@" not in unit and "@DOCS@" not in unit
    assert "would write /etc/edgeclass/run.toml (mode 640, owner root:edgeclass)" in res.stdout or "keeping /etc/edgeclass/run.toml" in res.stdout
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is missing: the unit's syntax was not checked")
    path = tmp_path / "edgeclass.service"
    path.write_text(unit.replace(exe, shutil.which("true")))
    check = subprocess.run([analyze, "verify", str(path)], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0 and "edgeclass.service" not in check.stderr, check.stderr


def test_install_service_refuses_without_root():
    setpriv = shutil.which("setpriv")
    if os.geteuid() != 0:
        res = subprocess.run(["bash", str(REPO / "deploy" / "install-service.sh"), "--edgeclass", "/bin/true"],
                             capture_output=True, text=True, timeout=30)
    elif setpriv:
        res = subprocess.run([setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "bash",
                              str(REPO / "deploy" / "install-service.sh"), "--edgeclass", "/bin/true"],
                             capture_output=True, text=True, timeout=30)
    else:
        pytest.skip("root without setpriv: cannot run the script as another user")
    assert res.returncode == 1 and "needs root" in res.stderr and res.stderr.count("\n") == 1
