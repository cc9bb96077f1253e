"""`hardener import`: declare a foreign model's preprocessing and class names once, in a bundle."""
from __future__ import annotations

from pathlib import Path

import typer

from hardener.cli.common import (AllowPickleOption, ArchOption, ChannelOrderOption, ImageSizeOption, InputRangeOption,
                                 MeanOption, NormalizeOption, StdOption, VariantOption, console, declared_spec,
                                 handles_errors, print_warnings)
from hardener.errors import InputError


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
    from hardener.classes import read_class_names
    from hardener.files import prepare_out_dir, refuse_input_overwrite
    from hardener.loading import load_model, save_bundle

    changes = declared_spec(mean, std, normalize, channel_order, input_range)
    if out.is_dir():
        raise InputError("--out names an existing folder", where=str(out), fix="name the file, e.g. --out DIR/model.safetensors")
    if out.suffix != ".safetensors":
        raise InputError("--out must name a .safetensors file", where=str(out), fix="e.g. --out model.safetensors")
    loaded = load_model(model, arch, variant=variant, image_size=image_size, spec_changes=changes,
                        allow_pickle=allow_pickle)
    print_warnings(loaded.warnings)
    names = read_class_names(class_names, loaded.num_classes) if class_names else loaded.class_names
    refuse_input_overwrite(out, tuple(p for p in (model, class_names) if p))
    prepare_out_dir(out.parent)
    save_bundle(loaded.model, out, class_names=names, source_sha256=loaded.source_sha256, produced_by="hardener import")
    console.print(f"wrote {out}: {loaded.arch}/{loaded.variant}, {loaded.num_classes} classes, "
                  f"input spec {loaded.model.spec.describe()}" + (", with class names" if names else ""), highlight=False)
    if not loaded.model.spec.declared:
        console.print("[yellow]note:[/] no spec option was given, so the plugin default is recorded as assumed; "
                      "declare --normalize/--channel-order/--input-range if the model was trained otherwise.")

