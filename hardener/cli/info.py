"""`hardener info`: what a model file is, in one table; with --data, whether its input spec fits."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hardener.cli.common import (AllowPickleOption, ArchOption, ChannelOrderOption, ImageSizeOption, InputRangeOption,
                                 JsonOption, MeanOption, NormalizeOption, StdOption, VariantOption, console,
                                 declared_spec, handles_errors, print_json, print_warnings)


@handles_errors
def info(
    model: Path = typer.Argument(..., help="Model file: hardener bundle, .pt/.pth state_dict or checkpoint, TorchScript."),
    data: Path = typer.Option(None, "--data", help="Held-out labelled images (.npz or ImageFolder): score the input spec against common alternatives."),
    arch: str = ArchOption,
    variant: str = VariantOption,
    image_size: int = ImageSizeOption,
    mean: str = MeanOption,
    std: str = StdOption,
    normalize: str = NormalizeOption,
    channel_order: str = ChannelOrderOption,
    input_range: str = InputRangeOption,
    allow_pickle: bool = AllowPickleOption,
    as_json: bool = JsonOption,
) -> None:
    """Show architecture, variant, parameters, classes, input spec, provenance and sha256 of a model."""
    from hardener.jobs.info import InfoJob, run_info

    summary = run_info(InfoJob(model, data, arch, variant, image_size,
                               declared_spec(mean, std, normalize, channel_order, input_range), allow_pickle))
    print_warnings(summary["warnings"])
    if as_json:
        print_json(summary)
        return
    table = Table(title=f"{model}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in summary.items():
        if key not in ("spec_check", "warnings"):
            table.add_row(key.replace("_", " "), _render(value))
    console.print(table)
    check = summary.get("spec_check")
    if check is not None:
        scores = Table(title=f"Input spec check on {check['images']} images of {data}")
        scores.add_column("input spec")
        scores.add_column("accuracy", justify="right")
        for name, accuracy in check["accuracy"].items():
            scores.add_row(name + (" (declared)" if name == check["declared"] else ""), f"{accuracy:.1%}")
        console.print(scores)
        style = "bold red" if check["clearly_wrong"] else "green"
        console.print(f"[{style}]{check['verdict']}[/]", highlight=False)


def _render(value: object) -> str:
    if isinstance(value, dict):
        return "\n".join(f"{k}: {v}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(map(str, value[:10])) + (f" ... ({len(value)} in all)" if len(value) > 10 else "")
    return "-" if value is None else str(value)
