"""`hardener verify`: the release gate. Exit 0 = every gate holds, 1 = a gate failed, 2 = bad input."""
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
def verify(
    hardened: Path = typer.Argument(..., help="protect's --out folder (or a hardened model file)."),
    baseline: Path = typer.Option(..., "--baseline", help="The model protect started from (after protect "
                                                          "--pretrained: MODEL, which the stacked model replaces)."),
    data: str = typer.Option(..., "--data", help="Held-out private images (never trained on)."),
    gan: Path = typer.Option(..., "--gan", help="GAN for the attacks (ideally another one than protect used)."),
    eval_model: Path = typer.Option(..., "--eval-model", help="Independent evaluation model on the private identities."),
    extra_eval_model: list[Path] = typer.Option([], "--extra-eval-model", help="Another evaluation model on the same identities (repeatable): it judges the same reconstructions, and each attack's check must hold by it too."),
    protect_classes: list[str] = typer.Option(..., "--protect", help="The protected classes."),
    out: Path = typer.Option(..., "--out", help="Output folder: report.json, junit.xml, summary.md."),
    critic: Path = typer.Option(None, "--critic", help="Critic checkpoint when --gan is a bare generator."),
    preset: list[str] = SuitePresetOption,
    budget: str = SuiteBudgetOption,
    steps: int = SuiteStepsOption,
    restarts: int = SuiteRestartsOption,
    max_acc_drop: float = MaxAccDropOption,
    max_protected_acc_drop: float = MaxProtectedAccDropOption,
    max_attack_acc: float = MaxAttackAccOption,
    max_strangers_rise: float = MaxStrangersRiseOption,
    members: str = typer.Option(None, "--members", help="Private TRAINING images: adds the membership-inference check (--data are the non-members)."),
    max_mia_auc: float = MaxMiaAucOption,
    mia_shadows: int = typer.Option(0, "--mia-shadows", help="Add LiRA with K shadow models of the hardened model's architecture (0: threshold attacks only; slow: K trainings)."),
    mia_shadow_epochs: int = typer.Option(10, "--mia-shadow-epochs", help="Epochs per shadow (batch 64, lr 1e-3, augmentation, from scratch: an approximation for fine-tuned models; `hardener audit-mia` sets all of it)."),
    seed: int = typer.Option(0, "--seed", help="Selects the fresh attack seeds (never those protect used)."),
    resume: bool = typer.Option(False, "--resume", help="Keep the LiRA shadow models an interrupted verify finished (checkpoints in --out) and train the rest."),
    baseline_report: Path = typer.Option(None, "--baseline-report", help="report.json of an earlier verify of the same --baseline with the same GAN, evaluation model, --data, --protect, budget, device type and torch: its baseline attack rows are taken as they are instead of attacking the baseline again; rows it lacks (other presets, seeds, steps or restarts) are attacked. Another baseline or inputs: exit 2."),
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
    """Gate a release: accuracy kept, attacks on protected classes fail, ONNX matches."""
    from hardener.cli.progress import progress_bar
    from hardener.report.gate import format_quantity
    from hardener.jobs.verify import DEFAULT_PRESETS, VerifyJob, run_verify

    job = VerifyJob(hardened=hardened, baseline=baseline, data=data, gan=gan, eval_model=eval_model,
                    protect=protect_classes, out=out, critic=critic, presets=tuple(preset or DEFAULT_PRESETS),
                    budget=budget, steps=steps, restarts=restarts, seed=seed, max_acc_drop=max_acc_drop,
                    max_protected_acc_drop=max_protected_acc_drop, max_attack_acc=max_attack_acc,
                    max_strangers_rise=max_strangers_rise, members=members,
                    max_mia_auc=max_mia_auc, mia_shadows=mia_shadows, mia_shadow_epochs=mia_shadow_epochs, device=device,
                    spec_changes=declared_spec(mean, std, normalize, channel_order, input_range), force_spec=force_spec,
                    arch=arch, allow_pickle=allow_pickle, resume=resume,
                    baseline_report=baseline_report, extra_eval_models=tuple(extra_eval_model))
    with progress_bar(enabled=not as_json) as progress:
        gate, report = run_verify(job, progress)
    print_warnings(report["warnings"])
    if as_json:
        print_json({**report, **gate.to_dict()})
    else:
        table = Table(title=f"Release gate for {hardened}: {'PASSED' if gate.passed else 'FAILED'}")
        for column in ("check", "value", "limit", "result", "detail"):
            table.add_column(column)
        style = {"pass": "[green]pass[/]", "fail": "[red]FAIL[/]", "info": "info"}
        for c in gate.checks:
            table.add_row(c.name, format_quantity(c.value, c.unit), format_quantity(c.limit, c.unit), style[c.status],
                          c.detail)
        console.print(table)
        for note in gate.notes[1:]:  # the worst attack and skipped attacks; the decision rule is in summary.md
            console.print(note, highlight=False)
        console.print(f"reports: {out / 'report.json'}, {out / 'junit.xml'}, {out / 'summary.md'}", highlight=False)
    raise typer.Exit(gate.exit_code)
