"""`hardener export`: safetensors bundle + ONNX with onnxruntime parity (and TorchScript on request)."""
from __future__ import annotations

from contextlib import nullcontext
from pathlib import Path

import typer
from rich.table import Table

from hardener.cli.common import (AllowPickleOption, ArchOption, ChannelOrderOption, ImageSizeOption, InputRangeOption,
                                 JsonOption, MeanOption, NormalizeOption, StdOption, VariantOption, console,
                                 declared_spec, handles_errors, print_json, print_warnings)


@handles_errors
def export(
    model: Path = typer.Argument(..., help="Model file to export."),
    out: Path = typer.Option(..., "--out", help="Output folder (created; nothing is written outside it)."),
    onnx: bool = typer.Option(False, "--onnx", help="Write ONNX (opset 18, dynamic batch, parity-checked)."),
    safetensors: bool = typer.Option(False, "--safetensors", help="Write the hardener safetensors bundle."),
    torchscript: bool = typer.Option(False, "--torchscript", help="Write traced TorchScript (deprecated upstream; prefer ONNX)."),
    arch: str = ArchOption,
    variant: str = VariantOption,
    image_size: int = ImageSizeOption,
    mean: str = MeanOption,
    std: str = StdOption,
    normalize: str = NormalizeOption,
    channel_order: str = ChannelOrderOption,
    input_range: str = InputRangeOption,
    allow_pickle: bool = AllowPickleOption,
    seed: int = typer.Option(0, "--seed", help="Seed of the random parity images."),
    as_json: bool = JsonOption,
) -> None:
    """Export a model for serving. Default: ONNX + safetensors. Writes report.json with sha256 and parity."""
    from hardener.files import prepare_out_dir, write_json
    from hardener.loading import load_model
    from hardener.export import export_model
    from hardener.summary import model_summary

    formats = tuple(f for f, on in (("onnx", onnx), ("safetensors", safetensors), ("torchscript", torchscript)) if on)
    formats = formats or ("onnx", "safetensors")
    loaded = load_model(model, arch, variant=variant, image_size=image_size, allow_pickle=allow_pickle,
                        spec_changes=declared_spec(mean, std, normalize, channel_order, input_range))
    print_warnings(loaded.warnings)
    out_dir = prepare_out_dir(out, inputs=(model,))
    with console.status(f"exporting {', '.join(formats)} ...", spinner="dots") if not as_json else nullcontext():
        result = export_model(loaded.model, out_dir, formats=formats, stem=model.stem.split(".")[0] or "model",
                              class_names=loaded.class_names, source_sha256=loaded.source_sha256, seed=seed, inputs=(model,))
    report = {"command": "export", "model": model_summary(loaded), **result.to_report()}
    write_json(out_dir / "report.json", report)
    if as_json:
        print_json(report)
        return
    table = Table(title=f"Exported {model} -> {out_dir}")
    for column in ("format", "file", "sha256"):
        table.add_column(column)
    for fmt, path in result.files.items():
        table.add_row(fmt, str(path), result.sha256[fmt][:16])
    console.print(table)
    for p in result.parity:
        console.print(f"ONNX parity at batch {p.batch}: max abs diff {p.max_abs_diff:.3g} "
                      f"({p.relative:.2e} of logit scale {p.logit_scale:.3g}) [green]ok[/]", highlight=False)
    if "torchscript" in result.files:
        console.print("[yellow]note:[/] TorchScript is deprecated upstream; prefer the ONNX file.")
