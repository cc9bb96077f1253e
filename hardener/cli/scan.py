"""`hardener scan`: rank the identities of a model by how much a cheap attack recovers of them."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hardener.cli.common import (AllowPickleOption, ArchOption, ChannelOrderOption, DeviceOption, InputRangeOption,
                                 JsonOption, MeanOption, NormalizeOption, StdOption, console, declared_spec,
                                 handles_errors, print_json)


@handles_errors
def scan(
    model: Path = typer.Argument(..., help="The model to scan (target)."),
    gan: Path = typer.Option(..., "--gan", help="GAN bundle, or a GMI generator checkpoint (then give --critic)."),
    eval_model: Path = typer.Option(..., "--eval-model", help="Independent evaluation model on the same private identities."),
    data: str = typer.Option(..., "--data", help="Private images labelled like the model: KNN distances and the real photo in leaks.png."),
    out: Path = typer.Option(..., "--out", help="Output folder: report.json, leaks.png."),
    critic: Path = typer.Option(None, "--critic", help="Critic checkpoint when --gan is a bare generator."),
    preset: str = typer.Option("plg-margin", "--preset", help="The attack to scan with (one preset)."),
    budget: str = typer.Option("standard", "--budget", help="quick | standard | fast | paper (standard: 20% of the preset's steps)."),
    steps: int = typer.Option(None, "--steps", help="Override the budget's steps."),
    restarts: int = typer.Option(2, "--restarts", help="Restarts per class."),
    suggest: int = typer.Option(5, "--suggest", help="How many of the leakiest classes to suggest protecting."),
    top_k: int = typer.Option(8, "--top-k", help="Leakiest classes shown in leaks.png."),
    seed: int = typer.Option(0, "--seed"),
    device: str = DeviceOption,
    arch: str = ArchOption,
    mean: str = MeanOption,
    std: str = StdOption,
    normalize: str = NormalizeOption,
    channel_order: str = ChannelOrderOption,
    input_range: str = InputRangeOption,
    allow_pickle: bool = AllowPickleOption,
    as_json: bool = JsonOption,
) -> None:
    """Which identities leak most: a cheap attack on every class, ranked, with a suggested --protect list."""
    from hardener.cli.progress import progress_bar
    from hardener.jobs.scan import ScanJob, run_scan

    job = ScanJob(model=model, gan=gan, eval_model=eval_model, data=data, out=out, critic=critic, preset=preset,
                  budget=budget, steps=steps, restarts=restarts, suggest=suggest, top_k=top_k, seed=seed,
                  device=device, arch=arch, spec_changes=declared_spec(mean, std, normalize, channel_order, input_range),
                  allow_pickle=allow_pickle)
    with progress_bar(enabled=not as_json) as progress:
        report = run_scan(job, progress)
    if as_json:
        print_json(report)
        return
    table = Table(title=f"Leak ranking of {model} ({report['preset']}, {report['inversion']['steps_run']} steps x "
                        f"{report['inversion']['restarts']} restarts)")
    for column in ("rank", "class", "attack top-1", "eval confidence", "target confidence", "KNN distance"):
        table.add_column(column, justify="right")
    for r in report["ranking"]:
        table.add_row(str(r["rank"]), r["label"], f"{r['attack_top1']:.0%}", f"{r['eval_confidence']:.2f}",
                      f"{r['target_confidence']:.2f}", f"{r['knn_distance']:.2f}")
    console.print(table)
    console.print(f"suggested: {report['suggested_command'] or '(no class was recovered)'}", highlight=False)
    console.print(f"grid: {report['grid']}  report: {out / 'report.json'}", highlight=False)
