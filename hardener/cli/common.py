"""What every command shares: error handling, the console, shared options. Torch-free on import."""
from __future__ import annotations

import functools
import json
import sys
from typing import Any, Callable, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from hardener.errors import HardenerError

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])

_state = {"debug": False}

EXIT_INTERNAL = 3  # 0 success, 1 gate failed, 2 bad input (HardenerError.exit_code), 3 a bug of ours


def set_debug(value: bool) -> None:
    _state["debug"] = value


def handles_errors(command: F) -> F:
    """Turn HardenerError into one red line and exit 2; anything else into one line and exit 3.

    `--debug` re-raises so the traceback shows.
    """

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (typer.Exit, typer.Abort, SystemExit):
            raise
        except HardenerError as exc:
            if _state["debug"]:
                raise
            err_console.print(f"[bold red]error:[/] {escape(exc.line())}", highlight=False, soft_wrap=True)
            raise typer.Exit(exc.exit_code) from None
        except KeyboardInterrupt:
            err_console.print("[red]interrupted[/]")
            raise typer.Exit(130) from None
        except Exception as exc:  # a bug of ours: still one line, never a traceback without --debug
            if _state["debug"]:
                raise
            first = str(exc).splitlines()[0] if str(exc) else ""
            err_console.print(f"[bold red]internal error:[/] {type(exc).__name__}: {escape(first[:300])} "
                              "- rerun with --debug for the traceback and report it", highlight=False, soft_wrap=True)
            raise typer.Exit(EXIT_INTERNAL) from None

    return wrapper  # type: ignore[return-value]


def print_warnings(lines: list[str]) -> None:
    for line in lines:
        err_console.print(f"[bold yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


ArchOption = typer.Option(None, "--arch", help="Architecture name (see `hardener plugins`); inferred from the file when left out.")
VariantOption = typer.Option(None, "--variant", help="Architecture variant, e.g. resnet18; inferred when left out.")
ImageSizeOption = typer.Option(None, "--image-size", help="Input size in pixels; from the bundle or the plugin default when left out.")
AllowPickleOption = typer.Option(False, "--allow-pickle", help="DANGEROUS: load pickled Python objects, which can run code. Only for files you trust.")
JsonOption = typer.Option(False, "--json", help="Print the report as JSON on stdout instead of a table.")

MeanOption = typer.Option(None, "--mean", help="Per-channel mean the model was trained with, e.g. 0.5,0.5,0.5 (after scaling to --input-range).")
StdOption = typer.Option(None, "--std", help="Per-channel std, e.g. 0.5,0.5,0.5.")
NormalizeOption = typer.Option(None, "--normalize", help="Preset mean/std: imagenet | half ((x-0.5)/0.5) | none.")
ChannelOrderOption = typer.Option(None, "--channel-order", help="rgb, or bgr for OpenCV-style pipelines.")
InputRangeOption = typer.Option(None, "--input-range", help="Pixel range the model expects before mean/std: 0-1 or 0-255.")


def declared_spec(mean: str | None, std: str | None, normalize: str | None, channel_order: str | None,
                  input_range: str | None) -> dict:
    """The spec options of a command as changes for `load_model(spec_changes=...)`."""
    from hardener.spec import spec_changes

    return spec_changes(mean=mean, std=std, normalize=normalize, channel_order=channel_order, input_range=input_range)
