"""`hardener data split`: reproducible private/public and train/test splits."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hardener.cli.common import JsonOption, console, handles_errors, print_json

data_app = typer.Typer(help="Datasets: reproducible splits.", no_args_is_help=True)


@data_app.command("split")
@handles_errors
def split(
    data: str = typer.Argument(..., help=".npz, ImageFolder, or synthetic:ids=N,per=M,size=S,seed=K."),
    by: str = typer.Option(..., "--by", help="identity (private/public halves) or image (train/test within each identity)."),
    out: Path = typer.Option(..., "--out", help="Folder for the npz parts and split.json."),
    scheme: str = typer.Option("parity", "--scheme", help="With --by identity: parity (even labels private) or random."),
    private_fraction: float = typer.Option(0.5, "--private-fraction", min=0.0, max=1.0, help="With --scheme random."),
    test_fraction: float = typer.Option(0.2, "--test-fraction", min=0.0, max=1.0, help="With --by image: share of each identity held out."),
    seed: int = typer.Option(0, "--seed"),
    skip_bad_images: bool = typer.Option(False, "--skip-bad-images", help="Skip unreadable images (counted in split.json)."),
    as_json: bool = JsonOption,
) -> None:
    """Write the split as npz files the other commands accept, plus split.json with the row indices."""
    from hardener.jobs.data_split import write_split

    report = write_split(data, out, by=by, scheme=scheme, test_fraction=test_fraction,
                         private_fraction=private_fraction, seed=seed, skip_bad_images=skip_bad_images)
    if as_json:
        print_json({k: v for k, v in report.items() if k != "rows"})
        return
    table = Table(title=f"Split of {report['source']} by {by}")
    for column in ("part", "file", "images", "identities"):
        table.add_column(column)
    for name, path in report["files"].items():
        counts = report["counts"][name]
        table.add_row(name, path, str(counts["images"]), str(counts["identities"]))
    console.print(table)
