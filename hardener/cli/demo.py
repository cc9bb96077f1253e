"""`hardener demo`: train, attack, protect and verify on synthetic faces, then show before and after."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hardener.cli.common import DeviceOption, JsonOption, console, handles_errors, print_json


@handles_errors
def demo(
    out: Path = typer.Option(Path("hardener-demo"), "--out", help="Folder for every model, report and grid."),
    quick: bool = typer.Option(False, "--quick", help="Tiny sizes: checks the pipeline in seconds (numbers mean nothing)."),
    seed: int = typer.Option(0, "--seed"),
    device: str = DeviceOption,
    as_json: bool = JsonOption,
) -> None:
    """The whole story on embedded synthetic faces: train, attack, protect two classes, verify with the packaged GAN
    protect never saw."""
    from hardener.cli.progress import progress_bar
    from hardener.jobs.demo import QUICK, DemoSize, run_demo

    say = (lambda line: None) if as_json else (lambda line: console.print(f"[bold]{line}[/]", highlight=False))
    with progress_bar(enabled=False) as progress:
        summary = run_demo(out, size=QUICK if quick else DemoSize(), seed=seed, device=device, progress=progress, say=say)
    if as_json:
        print_json(summary)
        return
    table = Table(title="Before and after protecting classes 0 and 1")
    for column in ("measure", "before", "after"):
        table.add_column(column)
    for row in summary["table"]:
        table.add_row(row["measure"], f"{row['before']:.1%}", f"{row['after']:.1%}")
    console.print(table)
    verdict = "[green]PASSED[/]" if summary["gate_passed"] else f"[red]FAILED[/] ({', '.join(summary['failed_checks'])})"
    console.print(f"release gate: {verdict}; grids: {summary['grids']['attack']}, {summary['grids']['protect']}")
    if summary["gate_note"]:
        console.print(summary["gate_note"], highlight=False)
