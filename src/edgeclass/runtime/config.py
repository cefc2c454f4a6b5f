"""``--config run.toml|run.yaml``: every option of a click command (``edgeclass run``) from a file.

The file is a flat table of option names (``max-frames`` or ``max_frames``; ``source`` for the
repeatable ``--source``; ``model`` for the argument), each checked against the command's own
parameters and converted by the option's own click type, so a file can hold exactly what the command
line can, and an unknown key or a bad value is one line naming the file, the key and the fix::

    model = "runs/me/weights/model.onnx"
    source = ["0", "rtsp://cam.local/stream"]
    roi = "face"
    serve = "0.0.0.0:8080"

TOML is read with ``tomllib`` (``tomli`` before Python 3.11), YAML with PyYAML's ``safe_load`` (plain
data only: no tags, no code). Options given on the command line win over the file (click's
``default_map``, set by ``use_config`` as an eager ``--config`` callback).
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, Optional, Tuple

import click

from ..errors import EdgeclassError

SUFFIXES = (".toml", ".yaml", ".yml")


def read_config_file(path: str) -> Dict[str, Any]:
    """The top-level table of a TOML or YAML file (one-line EdgeclassError for anything else)."""
    p = Path(path)
    if p.suffix.lower() not in SUFFIXES:
        raise EdgeclassError(f"--config {path}: give a .toml or .yaml file")
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as e:
        raise EdgeclassError(f"--config {path}: cannot read it ({e.strerror})") from None
    except UnicodeDecodeError:
        raise EdgeclassError(f"--config {path}: not a UTF-8 text file") from None
    loads, error, kind = _loader(path, p.suffix.lower())
    try:
        data = loads(text)
    except error as e:
        raise EdgeclassError(f"--config {path}: not valid {kind}: {_one_line(e)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise EdgeclassError(f"--config {path}: the file must hold a table of options (key = value), not a {type(data).__name__}")
    return data


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())


def _loader(path: str, suffix: str) -> Tuple[Callable[[str], Any], type, str]:
    """(parse text, its error type, format name): tomllib (tomli before 3.11) or PyYAML's safe_load."""
    if suffix == ".toml":
        try:
            import tomllib
        except ImportError:  # Python < 3.11 (JetPack 6 has 3.10)
            try:
                import tomli as tomllib  # type: ignore[no-redef]
            except ImportError:
                raise EdgeclassError(f"--config {path}: reading TOML on this Python needs tomli: pip install 'edgeclass[serve]'") from None
        return tomllib.loads, tomllib.TOMLDecodeError, "TOML"
    try:
        import yaml
    except ImportError:
        raise EdgeclassError(f"--config {path}: reading YAML needs PyYAML: pip install 'edgeclass[serve]' (or use a .toml file)") from None
    return yaml.safe_load, yaml.YAMLError, "YAML"


def config_keys(command: click.Command) -> Dict[str, click.Parameter]:
    """Every spelling a file may use for each parameter of ``command`` -> the parameter."""
    keys: Dict[str, click.Parameter] = {}
    for param in command.params:
        if param.name in (None, "help", "config"):
            continue
        names = [param.name]
        if isinstance(param, click.Option):
            names += [o.lstrip("-") for o in param.opts if o.startswith("--")]
        for name in names:
            keys[name] = keys[name.replace("-", "_")] = keys[name.replace("_", "-")] = param
    return keys


def config_default_map(path: str, command: click.Command) -> Dict[str, Any]:
    """The file's options as click's ``default_map`` for ``command`` ({parameter name: value}),
    every key known and every value converted by its option's type."""
    keys = config_keys(command)
    ctx = click.Context(command)
    out: Dict[str, Any] = {}
    for key, value in read_config_file(path).items():
        param = keys.get(str(key))
        if param is None:
            raise EdgeclassError(f"--config {path}: unknown key {key!r}{_did_you_mean(str(key), keys)}")
        if param.name in out:
            raise EdgeclassError(f"--config {path}: {key!r} repeats an option given earlier in the file")
        out[param.name] = _convert(path, str(key), value, param, ctx)
    return out


def _did_you_mean(key: str, keys: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(key, list(keys), n=1, cutoff=0.6)
    if close:
        return f" (did you mean {close[0]!r}?)"
    return "; known keys: " + ", ".join(sorted({k for k in keys if "_" not in k}))


def _convert(path: str, key: str, value: Any, param: click.Parameter, ctx: click.Context) -> Any:
    where = f"--config {path}: {key} = {value!r}"
    if value is None or isinstance(value, dict):
        raise EdgeclassError(f"{where}: give a value (a table or an empty value is not an option value)")
    many = param.multiple or param.nargs == -1
    if isinstance(value, list):
        if not many:
            raise EdgeclassError(f"{where}: {key} takes one value, not a list")
        return [_scalar(where, v, param, ctx) for v in value]
    return [_scalar(where, value, param, ctx)] if many else _scalar(where, value, param, ctx)


def _scalar(where: str, value: Any, param: click.Parameter, ctx: click.Context) -> Any:
    if isinstance(value, (list, dict)):
        raise EdgeclassError(f"{where}: nested lists or tables are not option values")
    is_flag = isinstance(param, click.Option) and param.is_flag
    if is_flag or isinstance(param.type, click.types.BoolParamType):
        if not isinstance(value, bool):
            raise EdgeclassError(f"{where}: give true or false")
        return value
    if isinstance(value, bool):
        raise EdgeclassError(f"{where}: expected {param.type.name}, not true/false")
    if isinstance(param.type, click.types.IntParamType) and isinstance(value, float) and not value.is_integer():
        raise EdgeclassError(f"{where}: give a whole number")
    try:
        return param.type.convert(value, param, ctx)
    except click.BadParameter as e:
        raise EdgeclassError(f"{where}: {_one_line(Exception(e.message))}") from None


def use_config(ctx: click.Context, param: click.Parameter, value: Optional[str]) -> Optional[str]:
    """Callback of an eager ``--config`` option: the file's options become the command's defaults."""
    if value:
        ctx.default_map = {**(ctx.default_map or {}), **config_default_map(value, ctx.command)}
    return value
