"""`hardener protect --method NAME`: every defense of `hardener.defenses.methods`, exported and reported alike.

Typer needs static parameters, so the command's options are the union of every method's declared options,
built from the declarations when this module is imported (torch-free). Which option belongs to which method,
which are required and their defaults are read from the same declarations at run time: an option foreign to
the chosen method is refused with one line, and a missing one is named.
"""
from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from hardener.cli.common import (AllowPickleOption, ArchOption, ChannelOrderOption, DeviceOption, InputRangeOption,
                                 JsonOption, MeanOption, NormalizeOption, StdOption, console, declared_spec,
                                 err_console, handles_errors, print_json, print_warnings)
from hardener.defenses.methods import METHODS, Common, Method, Opt, get_method, load
from hardener.errors import InputError

DEFAULT_METHOD = "decoy"


def _method_help() -> str:
    return "; ".join(f"{m.name} ({m.trains}): {m.summary}" for m in METHODS.values())


COMMON: dict[str, tuple[type, Any]] = {  # every method takes these
    "model": (Path, typer.Argument(None, help="The model to harden (never modified), or, for a method that trains a new "
                                        "model, the model it replaces (its architecture, classes and names are kept).")),
    "out": (Path, typer.Option(..., "--out", help="Output folder: hardened.safetensors, hardened.onnx, report.json, "
                                                  "report.md (and the method's images).")),
    "method": (str, typer.Option(DEFAULT_METHOD, "--method", help=_method_help())),
    "seed": (int, typer.Option(0, "--seed")),
    "device": (str, DeviceOption),
    "resume": (bool, typer.Option(False, "--resume", help="Continue an interrupted run from its last checkpoint.")),
    "arch": (str, ArchOption),
    "mean": (str, MeanOption),
    "std": (str, StdOption),
    "normalize": (str, NormalizeOption),
    "channel_order": (str, ChannelOrderOption),
    "input_range": (str, InputRangeOption),
    "allow_pickle": (bool, AllowPickleOption),
    "as_json": (bool, JsonOption),
}


def method_flags(methods: dict[str, Method] = METHODS) -> dict[str, list[tuple[Method, Opt]]]:
    """Each flag any method declares, with every (method, option) declaring it; one type per flag."""
    flags: dict[str, list[tuple[Method, Opt]]] = {}
    for method in methods.values():
        for opt in method.options:
            flags.setdefault(opt.flag, []).append((method, opt))
    for flag, uses in flags.items():
        kinds = {opt.kind for _, opt in uses}
        if len(kinds) > 1:
            raise TypeError(f"{flag} is declared with different types: {', '.join(f'{m.name} {o.kind.__name__}' for m, o in uses)}")
    return flags


def param_name(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _help(uses: list[tuple[Method, Opt]]) -> str:
    """One help text per flag: what it does, for which methods, and each one's default."""
    def default(opt: Opt) -> str:
        if opt.default is None or opt.kind is bool:
            return ""
        return f" default {opt.default:g}" if isinstance(opt.default, float) else f" default {opt.default}"

    by_text: dict[str, list[str]] = {}
    for method, opt in uses:
        by_text.setdefault(opt.help, []).append(method.name + default(opt))
    return " ".join(f"{text} ({', '.join(names)})" for text, names in by_text.items())


def _signature() -> inspect.Signature:
    params = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=option, annotation=kind)
              for name, (kind, option) in COMMON.items()]
    for flag, uses in method_flags().items():
        kind = uses[0][1].kind
        annotation, default = (list[str], None) if kind is list else (kind, False if kind is bool else None)
        params.append(inspect.Parameter(param_name(flag), inspect.Parameter.KEYWORD_ONLY, annotation=annotation,
                                        default=typer.Option(default, flag, help=_help(uses))))
    return inspect.Signature(params, return_annotation=None)


def check_options(method: Method, model: Path | None, given: dict[str, Any]) -> None:
    """A missing required input, then an option the method does not take: one line each (exit 2)."""
    present = {"MODEL": Opt.present(model), **{flag: Opt.present(value) for flag, value in given.items()}}
    missing = [name for name in method.required if not present.get(name)]
    if missing:
        raise InputError(f"--method {method.name} needs {' and '.join(missing)}", fix="see `hardener protect --help`")
    wrong = [flag for flag, value in given.items() if Opt.present(value) and method.option(flag) is None]
    if wrong:
        raise InputError(f"{wrong[0]} does not apply to --method {method.name}", fix=f"drop {', '.join(wrong)}")


@handles_errors
def protect(**values: Any) -> None:
    """Harden a model against model inversion with one of several defenses (--method; default decoy). Each
    writes hardened.safetensors, hardened.onnx (parity-checked), report.json and report.md, so `hardener
    verify` gates them alike. Each option's help ends with the methods that take it and their defaults."""
    method = get_method(values["method"])
    given = {flag: values[param_name(flag)] for flag in method_flags()}
    check_options(method, values["model"], given)
    spec = declared_spec(values["mean"], values["std"], values["normalize"], values["channel_order"], values["input_range"])
    common = Common(model=values["model"], out=values["out"], seed=values["seed"], device=values["device"],
                    resume=values["resume"], arch=values["arch"], spec_changes=spec, allow_pickle=values["allow_pickle"])
    run = load(method.job)
    report = _with_progress(lambda progress: run(method, method.resolve(given), common, progress), common.out,
                            values["as_json"])
    if not values["as_json"]:
        _render(report)


protect.__signature__ = _signature()  # type: ignore[attr-defined]


def _with_progress(run, out: Path, as_json: bool) -> dict:
    """Run a protect job under a progress bar; Ctrl-C says how to resume instead of a traceback."""
    from hardener.cli.progress import progress_bar

    try:
        with progress_bar(enabled=not as_json) as progress:
            report = run(progress)
    except KeyboardInterrupt:
        err_console.print(f"[red]interrupted[/]: finished rounds or epochs are checkpointed in {out / 'checkpoints'}; "
                          "rerun the same command with --resume to continue", highlight=False)
        raise typer.Exit(130) from None
    print_warnings(report["warnings"])
    if as_json:
        print_json({key: value for key, value in report.items() if key != "display"})
    return report


def _render(report: dict) -> None:
    """What every method's job hands the CLI: an optional table and summary lines."""
    shown = report.get("display", {})
    if shown.get("table"):
        table = Table(title=shown["table"]["title"])
        for column in shown["table"]["columns"]:
            table.add_column(column)
        for row in shown["table"]["rows"]:
            table.add_row(*row)
        console.print(table)
    for line in shown.get("lines", []):
        console.print(line, highlight=False)
