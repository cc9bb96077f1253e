"""What every command shares: error handling, the console, shared options. Torch-free on import."""
from __future__ import annotations

import functools
import json
import math
import re
import sys
import warnings
from typing import Any, Callable, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from hardener.errors import HardenerError
from hardener.cli.signals import interrupts_raise
from hardener.files import guarding_inputs

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
        with warnings.catch_warnings(record=True) as caught:  # held back: an error must stay one line
            try:
                check_numbers(kwargs)
                with interrupts_raise(), guarding_inputs():
                    result = command(*args, **kwargs)
            except (typer.Exit, typer.Abort, SystemExit) as exc:
                if getattr(exc, "exit_code", 0) in (0, 1):
                    _replay(caught)
                raise
            except HardenerError as exc:
                if _state["debug"]:
                    _replay(caught)
                    raise
                _error_line(f"[bold red]error:[/] {escape(plain(exc.line()))}")
                raise typer.Exit(exc.exit_code) from None
            except KeyboardInterrupt as exc:  # Ctrl-C, or SIGTERM (cli/signals.py): temporaries already removed
                code = getattr(exc, "exit_code", 130)
                _error_line(f"[red]interrupted ({'SIGTERM' if code == 143 else 'Ctrl-C'})[/]: nothing half-written "
                            "is left in --out; commands with --resume continue from their last checkpoint")
                raise typer.Exit(code) from None
            except Exception as exc:  # a bug of ours: still one line, never a traceback without --debug
                if _state["debug"]:
                    _replay(caught)
                    raise
                first = plain(str(exc)).splitlines()[0] if str(exc).strip() else ""
                _error_line(f"[bold red]internal error:[/] {type(exc).__name__}: {escape(first[:300])} "
                            "- rerun with --debug for the traceback and report it")
                raise typer.Exit(EXIT_INTERNAL) from None
            _replay(caught)
            return result

    return wrapper  # type: ignore[return-value]


_CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|[\x00-\x08\x0b-\x1f\x7f]")


def plain(text: str) -> str:
    """Text from a library (torch's refusals carry ANSI colour codes) made safe for one terminal line."""
    return _CONTROL.sub("", text)


def _error_line(markup: str) -> None:
    err_console.print(markup, highlight=False, soft_wrap=True)


def _replay(caught: list[warnings.WarningMessage]) -> None:
    """Warnings of a run that did not end in an error, shown as they would have been."""
    for w in caught:
        warnings.showwarning(w.message, w.category, w.filename, w.lineno)


MAX_SEED = 2**31 - 1  # seeds are combined with offsets inside; this keeps every derived seed in range


def check_numbers(options: dict[str, Any]) -> None:
    """Refuse, for every command at once, what click's type checks let through: a NaN or infinite float
    option (NaN passes every min/max comparison) and a seed outside 0..2**31-1."""
    for name, value in options.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, float) and not math.isfinite(value):
            raise HardenerError(f"{flag} is {value}, not a finite number", fix=f"give {flag} a finite value")
        if (name == "seed" or name.endswith("_seed")) and isinstance(value, int) and not 0 <= value <= MAX_SEED:
            raise HardenerError(f"{flag} {value} is outside 0..{MAX_SEED}", fix=f"use e.g. {flag} 0")


def print_warnings(lines: list[str]) -> None:
    for line in lines:
        err_console.print(f"[bold yellow]warning:[/] {escape(line)}", highlight=False, soft_wrap=True)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


ArchOption = typer.Option(None, "--arch", help="Architecture name (see `hardener plugins`); inferred from the file when left out.")
VariantOption = typer.Option(None, "--variant", help="Architecture variant, e.g. resnet18; inferred when left out.")
ImageSizeOption = typer.Option(None, "--image-size", min=8, max=1024, help="Input size in pixels; from the bundle or the plugin default when left out.")
AllowPickleOption = typer.Option(False, "--allow-pickle", help="DANGEROUS: load pickled Python objects, which can run code. Only for files you trust.")
JsonOption = typer.Option(False, "--json", help="Print the report as JSON on stdout instead of a table.")

MeanOption = typer.Option(None, "--mean", help="Per-channel mean the model was trained with, e.g. 0.5,0.5,0.5 (after scaling to --input-range).")
StdOption = typer.Option(None, "--std", help="Per-channel std, e.g. 0.5,0.5,0.5.")
NormalizeOption = typer.Option(None, "--normalize", help="Preset mean/std: imagenet | half ((x-0.5)/0.5) | none.")
ChannelOrderOption = typer.Option(None, "--channel-order", help="rgb, or bgr for OpenCV-style pipelines.")
InputRangeOption = typer.Option(None, "--input-range", help="Pixel range the model expects before mean/std: 0-1 or 0-255.")

# The attack suite and gate options verify and compare share (compare: the same suite over several models).
SuitePresetOption = typer.Option(None, "--preset", help="Attack presets or groups to run (repeat): strong (default: gmi, plg-margin, lomma-logit, ppa, adaptive-decoy, adaptive-trapdoor, lomma-aug, plg-gan, plg-gan-adaptive), all (strong + patent), or one name.")
SuiteBudgetOption = typer.Option("paper", "--budget", help="quick | standard | fast | paper: paper = published steps and restarts; standard = 20% of the steps, 2 restarts (a 2-core CPU); quick = 2%, 1 restart (wiring only); fast = 20% of the steps with the preset's own restarts (1/5 of paper's work); also scales lomma-aug's distillation and plg-gan's generator training.")
SuiteStepsOption = typer.Option(None, "--steps", help="Run every preset for this many steps (overrides --budget).")
SuiteRestartsOption = typer.Option(None, "--restarts", help="Restarts per class for every preset (overrides --budget).")
MaxAccDropOption = typer.Option(1.0, "--max-acc-drop", help="Largest allowed drop of held-out accuracy, in points (the upper end of its paired 95% interval must be within it).")
MaxProtectedAccDropOption = typer.Option(2.0, "--max-protected-acc-drop", help="Same, on the protected classes.")
MaxAttackAccOption = typer.Option(5.0, "--max-attack-acc", help="Largest allowed attack top-1 accuracy on protected classes, in % (the upper end of its 95% Wilson interval must be within it).")
MaxStrangersRiseOption = typer.Option(2.0, "--max-strangers-rise", help="Largest allowed rise, in points, of the share of random faces of --gan that the model names as a protected person (strangers a face service would misname; the upper end of its paired 95% interval must be within it).")
MaxMiaAucOption = typer.Option(None, "--max-mia-auc", help="Largest allowed membership-inference AUC (0.5 = chance); needs --members.")
DeviceOption = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N")
ForceSpecOption = typer.Option(False, "--force-spec", help="Go on although --data says the input spec is wrong.")


def declared_spec(mean: str | None, std: str | None, normalize: str | None, channel_order: str | None,
                  input_range: str | None) -> dict:
    """The spec options of a command as changes for `load_model(spec_changes=...)`."""
    from hardener.spec import spec_changes

    return spec_changes(mean=mean, std=std, normalize=normalize, channel_order=channel_order, input_range=input_range)
