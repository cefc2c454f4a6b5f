"""The `edgeclass` command. Argument parsing only: every command calls a library function.

One module per concern (data, train, models, export, engine, run, eval); each exposes ``COMMANDS``.
Heavy libraries (torch, onnxruntime, tensorrt) are imported inside the commands, so
`edgeclass run` works on a Jetson without PyTorch.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from .. import __version__
from ..errors import EdgeclassError

_MODULES = ("data", "train", "models", "export", "engine", "run", "evaluate")


class _Group(click.Group):
    """Turns EdgeclassError (and OSError) into one line on stderr and exit status 2 (never a traceback);
    an invalid option value (a click usage error, see ``options.py``) is one line and exit 2 too."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as e:  # the top-level options (e.g. --max-image-pixels 0)
            _echo_usage_error(e, info_name or "edgeclass")
            raise click.exceptions.Exit(e.exit_code) from None

    def invoke(self, ctx: click.Context):
        try:
            check_environment()
            return super().invoke(ctx)
        except click.UsageError as e:
            _echo_usage_error(e, ctx.command_path)
            ctx.exit(e.exit_code)
        except EdgeclassError as e:
            click.echo(f"error: {e}", err=True)
            ctx.exit(2)
        except OSError as e:  # disk full, permission denied, a path that vanished: the OS's words, one line
            where = f": {e.filename}" if getattr(e, "filename", None) else ""
            click.echo(f"error: {e.strerror or e}{where}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


def _echo_usage_error(e: click.UsageError, fallback: str) -> None:
    where = e.ctx.command_path if e.ctx is not None else fallback
    click.echo(f"error: {e.format_message()} (see `{where} --help`)", err=True)


def check_environment() -> None:
    """Settings read from the environment, checked once before any command runs (one-line errors)."""
    from ..image import max_pixels_from_env

    max_pixels_from_env()


def _set_max_pixels(ctx: click.Context, param: click.Parameter, value) -> None:
    """--max-image-pixels: the reader's limit for this process and its workers (the env variable)."""
    from ..image import MAX_PIXELS_ENV

    if value is not None:
        os.environ[MAX_PIXELS_ENV] = str(value)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="edgeclass")
@click.option("--max-image-pixels", type=click.IntRange(1, 1 << 30), expose_value=False, callback=_set_max_pixels,
              help="Refuse image files over this many pixels, from their header (default 67108864, or $EDGECLASS_MAX_IMAGE_PIXELS).")
def cli() -> None:
    """Train an image classifier and run it in real time with TensorRT, ONNX Runtime or PyTorch."""


for _name in _MODULES:
    try:
        _mod = importlib.import_module(f"{__name__}.{_name}")
    except ModuleNotFoundError as _e:
        if _e.name != f"{__name__}.{_name}":
            raise
        continue
    for _cmd in getattr(_mod, "COMMANDS", ()):
        cli.add_command(_cmd)


def main() -> None:
    cli(prog_name="edgeclass")


if __name__ == "__main__":
    sys.exit(main())
