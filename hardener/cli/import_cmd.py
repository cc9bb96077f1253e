"""`hardener import`: declare a foreign model's preprocessing and class names once, in a bundle."""
from __future__ import annotations

from pathlib import Path

import typer

from hardener.cli.common import (AllowPickleOption, ArchOption, ChannelOrderOption, ImageSizeOption, InputRangeOption,
                                 MeanOption, NormalizeOption, StdOption, VariantOption, console, declared_spec,
                                 handles_errors, print_warnings)


@handles_errors
def import_model(
    model: Path = typer.Argument(..., help="The model file to import (state_dict, checkpoint, TorchScript, safetensors)."),
    out: Path = typer.Option(..., "--out", help="The bundle to write, e.g. model.safetensors."),
    arch: str = ArchOption,
    variant: str = VariantOption,
    image_size: int = ImageSizeOption,
    mean: str = MeanOption,
    std: str = StdOption,
    normalize: str = NormalizeOption,
    channel_order: str = ChannelOrderOption,
    input_range: str = InputRangeOption,
    class_names: Path = typer.Option(None, "--class-names", help="Text file: one class name per line, in label order."),
    allow_pickle: bool = AllowPickleOption,
) -> None:
    """Write a hardener bundle that records the model's real input spec, class names and source sha256."""
    from hardener.jobs.import_model import ImportJob, run_import

    written = run_import(ImportJob(model, out, arch, variant, image_size,
                                   declared_spec(mean, std, normalize, channel_order, input_range), class_names,
                                   allow_pickle))
    print_warnings(written["warnings"])
    console.print(f"wrote {written['out']}: {written['arch']}/{written['variant']}, {written['classes']} classes, "
                  f"input spec {written['input_spec']}" + (", with class names" if written["class_names"] else ""),
                  highlight=False)
    if not written["spec_declared"]:
        console.print("[yellow]note:[/] no spec option was given, so the plugin default is recorded as assumed; "
                      "declare --normalize/--channel-order/--input-range if the model was trained otherwise.")
