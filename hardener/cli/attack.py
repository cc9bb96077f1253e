"""`hardener attack`: invert a model and measure what an attacker recovers."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hardener.cli.common import (AllowPickleOption, ArchOption, ChannelOrderOption, DeviceOption, InputRangeOption,
                                 JsonOption, MeanOption, NormalizeOption, StdOption, console, declared_spec,
                                 handles_errors, print_json)


@handles_errors
def attack(
    model: Path = typer.Argument(..., help="The model to attack (target)."),
    gan: Path = typer.Option(..., "--gan", help="GAN bundle, or a GMI generator checkpoint (then give --critic)."),
    classes: str = typer.Option(..., "--classes", help="Classes to invert: indices, ranges, names, or all (e.g. 0-9,12)."),
    eval_model: Path = typer.Option(..., "--eval-model", help="Independent evaluation model trained on the same private identities."),
    data: str = typer.Option(..., "--data", help="Private images (.npz or ImageFolder) labelled like the model: for KNN and Frechet distances and the grid."),
    out: Path = typer.Option(..., "--out", help="Output folder: report.json, grid.png."),
    critic: Path = typer.Option(None, "--critic", help="Critic (discriminator) checkpoint when --gan is a bare generator."),
    preset: str = typer.Option("gmi", "--preset", help="gmi | plg-margin | lomma-logit | patent | ppa | adaptive-decoy (needs the GAN bundle's public classifier) | lomma-aug | plg-gan"),
    budget: str = typer.Option("paper", "--budget", help="quick | standard | fast | paper: scales the preset's steps and restarts (paper = published; fast = 20% of the steps with the preset's restarts)."),
    steps: int = typer.Option(None, "--steps", help="Override the preset's number of steps (quick runs)."),
    restarts: int = typer.Option(None, "--restarts", help="Override the preset's restarts per class."),
    fid_weights: Path = typer.Option(None, "--fid-weights", help="Inception-v3 weights file: also report the real Inception FID."),
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
    """Reconstruct private classes from MODEL with a GAN and judge them with an evaluation model."""
    from hardener.jobs.attack import AttackJob, run_attack
    from hardener.cli.progress import progress_bar

    job = AttackJob(model=model, gan=gan, classes=classes, eval_model=eval_model, data=data, out=out, critic=critic,
                    preset=preset, budget=budget, steps=steps, restarts=restarts, seed=seed, device=device, fid_weights=fid_weights,
                    arch=arch, spec_changes=declared_spec(mean, std, normalize, channel_order, input_range),
                    allow_pickle=allow_pickle)
    with progress_bar(enabled=not as_json) as progress:
        report = run_attack(job, progress)
    if as_json:
        print_json(report)
        return
    m = report["metrics"]
    table = Table(title=f"Attack {report['preset']} on {model} ({len(report['classes'])} classes, "
                        f"{report['inversion']['steps_run']} steps, seed {seed})")
    for column in ("top-1", "sure top-1", "named on others", "top-5", "any restart top-1", "KNN distance",
                   "feature Frechet distance"):
        table.add_column(column, justify="right")
    table.add_row(*(_shown(m[key], form) for key, form in (
        ("top1", ".1%"), ("sure_top1", ".1%"), ("cross_top1", ".1%"), ("top5", ".1%"), ("any_restart_top1", ".1%"),
        ("knn_distance", ".3f"), ("feature_frechet_distance", ".3f"))))
    console.print(table)
    if "inception_fid" in m:
        console.print(f"Inception FID: {m['inception_fid']:.2f}")
    console.print(f"grid: {report['grid']}  report: {out / 'report.json'}", highlight=False)


def _shown(value: float | None, form: str) -> str:
    """A report number as the table shows it; None (JSON's NaN, e.g. a Frechet distance of one row) as a dash."""
    return "—" if value is None else format(value, form)
