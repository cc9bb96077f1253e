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
    from hardener.loading import load_model
    from hardener.summary import model_summary

    loaded = load_model(model, arch, variant=variant, image_size=image_size, allow_pickle=allow_pickle,
                        spec_changes=declared_spec(mean, std, normalize, channel_order, input_range))
    print_warnings(loaded.warnings)
    summary = model_summary(loaded)
    check = None
    if data is not None:
        from hardener.data import load_dataset
        from hardener.spec_check import check_spec

        check = check_spec(loaded.model, load_dataset(data))
        summary["spec_check"] = {
            "data": str(data), "images": check.images, "clearly_wrong": check.clearly_wrong,
            "verdict": check.verdict(), "accuracy": {s.name: s.accuracy for s in check.scores},
        }
    if as_json:
        print_json(summary)
        return
    table = Table(title=f"{model}", show_header=False)
    table.add_column("field", style="bold")
    table.add_column("value")
    for key, value in summary.items():
        if key != "spec_check":
            table.add_row(key.replace("_", " "), _render(value))
    console.print(table)
    if check is not None:
        scores = Table(title=f"Input spec check on {check.images} images of {data}")
        scores.add_column("input spec")
        scores.add_column("accuracy", justify="right")
        for score in check.scores:
            mark = " (declared)" if score is check.declared else ""
            scores.add_row(score.name + mark, f"{score.accuracy:.1%}")
        console.print(scores)
        style = "bold red" if check.clearly_wrong else "green"
        console.print(f"[{style}]{check.verdict()}[/]", highlight=False)


def _render(value: object) -> str:
    if isinstance(value, dict):
        return "\n".join(f"{k}: {v}" for k, v in value.items()) or "-"
    if isinstance(value, list):
        return ", ".join(map(str, value[:10])) + (f" ... ({len(value)} in all)" if len(value) > 10 else "")
    return "-" if value is None else str(value)
