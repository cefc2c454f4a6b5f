"""The `edgeclass` command. Argument parsing only: every command calls a library function.

One module per concern (data, train, models, export, engine, run, eval); each exposes ``COMMANDS``.
Heavy libraries (torch, onnxruntime, tensorrt) are imported inside the commands, so
`edgeclass run` works on a Jetson without PyTorch.
"""

from __future__ import annotations

import importlib
import sys

import click

from .. import __version__
from ..errors import EdgeclassError

_MODULES = ("data", "train", "models", "export", "engine", "run", "evaluate")


class _Group(click.Group):
    """Turns EdgeclassError (and OSError) into one line on stderr and exit status 2 (never a traceback)."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
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


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.version_option(__version__, prog_name="edgeclass")
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
