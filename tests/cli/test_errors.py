import subprocess
import sys


def _edgeclass(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "edgeclass", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_an_os_error_is_one_line_and_exit_2(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    r = _edgeclass("data", "demo", str(blocker / "digits"))
    assert r.returncode == 2
    assert r.stderr.startswith("error: ") and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "a-file" in r.stderr


def test_unknown_commands_and_missing_arguments_are_usage_errors():
    r = _edgeclass("frobnicate")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    r = _edgeclass("--version")
    assert r.returncode == 0 and "edgeclass" in r.stdout


def test_a_text_file_given_as_checkpoint_is_not_called_an_unsafe_pickle(tmp_path):
    fake = tmp_path / "notes.pt"
    fake.write_text("these are my notes, not weights\n")
    r = _edgeclass("train", "--resume", str(fake))
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "not a PyTorch checkpoint file" in r.stderr and "unsafe" not in r.stderr
