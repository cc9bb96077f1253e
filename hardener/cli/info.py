"""`hardener info`: what a model file is, in one table."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hardener.cli.common import (AllowPickleOption, ArchOption, ImageSizeOption, JsonOption, VariantOption,
                                 console, handles_errors, print_json, print_warnings)


@handles_errors
def info(
    model: Path = typer.Argument(..., help="Model file: hardener bundle, .pt/.pth state_dict or checkpoint, TorchScript."),
    arch: str = ArchOption,
    variant: str = VariantOption,
    image_size: int = ImageSizeOption,
    allow_pickle: bool = AllowPickleOption,
    as_json: bool = JsonOption,
) -> None:
    """Show architecture, variant, parameters, classes, input spec, provenance and sha256 of a model."""
    from hardener.io import load_model
    from hardener.summary import model_summary

    loaded = load_model(model, arch, variant=variant, image_size=image_size, allow_pickle=allow_pickle)
    print_warnings(loaded.warnings)
    summary = model_summary(loaded)
    if as_json:
        print_json(summary)
        return
    table = Table(title=f"{model}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in summary.items():
        table.add_row(key.replace("_", " "), _render(value))
    console.print(table)


def _render(value: object) -> str:
    if isinstance(value, dict):
        return "\n".join(f"{k}: {v}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(map(str, value[:10])) + (f" ... ({len(value)} in all)" if len(value) > 10 else "")
    return "-" if value is None else str(value)
