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
    from hardener.jobs.export import DEFAULT_FORMATS, ExportJob, run_export

    formats = tuple(f for f, on in (("onnx", onnx), ("safetensors", safetensors), ("torchscript", torchscript)) if on)
    job = ExportJob(model, out, formats or DEFAULT_FORMATS, arch, variant, image_size,
                    declared_spec(mean, std, normalize, channel_order, input_range), allow_pickle, seed)
    with console.status(f"exporting {', '.join(job.formats)} ...", spinner="dots") if not as_json else nullcontext():
        report = run_export(job)
    print_warnings(report["warnings"])
    if as_json:
        print_json(report)
        return
    table = Table(title=f"Exported {model} -> {out}")
    for column in ("format", "file", "sha256"):
        table.add_column(column)
    for fmt, written in report["files"].items():
        table.add_row(fmt, written["path"], written["sha256"][:16])
    console.print(table)
    for p in (report["onnx_parity"] or {}).get("batches", []):
        console.print(f"ONNX parity at batch {p['batch']}: max abs diff {p['max_abs_diff']:.3g} "
                      f"({p['relative']:.2e} of logit scale {p['logit_scale']:.3g}) [green]ok[/]", highlight=False)
    if "torchscript" in report["files"]:
        console.print("[yellow]note:[/] TorchScript is deprecated upstream; prefer the ONNX file.")
