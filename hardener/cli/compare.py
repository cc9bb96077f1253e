"""`hardener compare`: verify's attack suite over a baseline and several hardened models, one table.
Exit 0 = every hardened model passes verify's gate, 1 = one fails, 2 = bad input."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hardener.cli.common import (AllowPickleOption, ArchOption, ChannelOrderOption, DeviceOption, ForceSpecOption,
                                 InputRangeOption, JsonOption, MaxAccDropOption, MaxAttackAccOption, MaxMiaAucOption,
                                 MaxProtectedAccDropOption, MaxStrangersRiseOption, MeanOption, NormalizeOption,
                                 StdOption, SuiteBudgetOption, SuitePresetOption, SuiteRestartsOption, SuiteStepsOption,
                                 console, declared_spec,
                                 handles_errors, print_json, print_warnings)


@handles_errors
def compare(
    hardened: list[Path] = typer.Argument(..., help="Hardened models: protect --out folders (their report gives protect time and decoys) or model files."),
    baseline: Path = typer.Option(..., "--baseline", help="The undefended model they are compared with."),
    data: str = typer.Option(..., "--data", help="Held-out private images (never trained on)."),
    gan: Path = typer.Option(..., "--gan", help="GAN for the attacks (ideally another one than protect used)."),
    eval_model: Path = typer.Option(..., "--eval-model", help="Independent evaluation model on the private identities."),
    out: Path = typer.Option(..., "--out", help="Output folder: compare.json, compare.md, compare.png."),
    members: str = typer.Option(None, "--members", help="Private TRAINING images: adds the membership-inference audit (--data are the non-members)."),
    protect_classes: list[str] = typer.Option(None, "--protect", help="Classes to attack (repeat); default: those the protect folders name, else the 5 with the most held-out images."),
    critic: Path = typer.Option(None, "--critic", help="Critic checkpoint when --gan is a bare generator."),
    preset: list[str] = SuitePresetOption,
    budget: str = SuiteBudgetOption,
    steps: int = SuiteStepsOption,
    restarts: int = SuiteRestartsOption,
    max_acc_drop: float = MaxAccDropOption,
    max_protected_acc_drop: float = MaxProtectedAccDropOption,
    max_attack_acc: float = MaxAttackAccOption,
    max_strangers_rise: float = MaxStrangersRiseOption,
    max_mia_auc: float = MaxMiaAucOption,
    seed: int = typer.Option(0, "--seed", help="Selects the attack seeds, as verify (the same for every model)."),
    device: str = DeviceOption,
    force_spec: bool = ForceSpecOption,
    mean: str = MeanOption,
    std: str = StdOption,
    normalize: str = NormalizeOption,
    channel_order: str = ChannelOrderOption,
    input_range: str = InputRangeOption,
    arch: str = ArchOption,
    allow_pickle: bool = AllowPickleOption,
    as_json: bool = JsonOption,
) -> None:
    """Compare defenses on your model: the same attacks (and membership audit) on a baseline and several
    hardened models, each gated as verify gates it."""
    from hardener.cli.progress import progress_bar
    from hardener.jobs.compare import CompareJob, run_compare
    from hardener.jobs.suite import DEFAULT_PRESETS, GateLimits
    from hardener.report.compare import failure_lines, table_cells

    job = CompareJob(hardened=list(hardened), baseline=baseline, data=data, gan=gan, eval_model=eval_model, out=out,
                     members=members, protect=list(protect_classes or []) or None, critic=critic,
                     presets=tuple(preset or DEFAULT_PRESETS), budget=budget, steps=steps, restarts=restarts, seed=seed,
                     limits=GateLimits(max_acc_drop, max_protected_acc_drop, max_attack_acc, max_mia_auc,
                                        max_strangers_rise),
                     device=device, spec_changes=declared_spec(mean, std, normalize, channel_order, input_range),
                     force_spec=force_spec, arch=arch, allow_pickle=allow_pickle)
    with progress_bar(enabled=not as_json) as progress:
        report = run_compare(job, progress)
    print_warnings(report["warnings"])
    if as_json:
        print_json(report)
    else:
        header, rows = table_cells(report)
        table = Table(title=f"hardener compare: {'PASSED' if report['passed'] else 'FAILED'} "
                            f"({report['budget']} budget, protected {', '.join(report['protected'])})")
        for i, column in enumerate(header):
            table.add_column(column, justify="left" if i < 2 else "right")
        styles = {"pass": "[green]pass[/]", "FAIL": "[red]FAIL[/]"}
        for row in rows:
            table.add_row(row[0], styles.get(row[1], row[1]), *row[2:])
        console.print(table)
        for line in failure_lines(report):
            console.print(line, highlight=False, markup=False)
        console.print(f"reports: {out / 'compare.json'}, {out / 'compare.md'}, {report['plot']}", highlight=False)
    raise typer.Exit(report["exit_code"])
