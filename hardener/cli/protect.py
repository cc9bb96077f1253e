"""`hardener protect`: the patent's decoy defense, adaptive rounds, exported and reported."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hardener.cli.common import (AllowPickleOption, ArchOption, ChannelOrderOption, InputRangeOption, JsonOption,
                                 MeanOption, NormalizeOption, StdOption, console, declared_spec, err_console,
                                 handles_errors, print_json, print_warnings)


@handles_errors
def protect(
    model: Path = typer.Argument(..., help="The model to harden (never modified)."),
    gan: Path = typer.Option(..., "--gan", help="GAN bundle (holds the public classifier), or a GMI generator (then --critic, --public-model)."),
    protect_classes: list[str] = typer.Option(..., "--protect", help="Class to protect: index, name, range or all; repeat for several."),
    out: Path = typer.Option(..., "--out", help="Output folder: hardened.safetensors, hardened.onnx, report.json, report.md, grid.png."),
    decoy: list[str] = typer.Option(None, "--decoy", help="Public decoy class per --protect, in order; chosen automatically when left out."),
    public_model: Path = typer.Option(None, "--public-model", help="Public classifier; default: the one in the GAN bundle."),
    data: str = typer.Option(None, "--data", help="Private training images: Fisher information, the retain term, and the input spec check."),
    critic: Path = typer.Option(None, "--critic", help="Critic checkpoint when --gan is a bare generator."),
    alpha: float = typer.Option(1.0, "--alpha", help="Weight of the bounded push-away term on inverted private samples."),
    beta: float = typer.Option(2.0, "--beta", help="Weight of pulling inverted decoy samples into the protected class."),
    omega: float = typer.Option(5.0, "--omega", help="Weight of the EWC term."),
    retain: float = typer.Option(1.0, "--retain", help="Weight of CE on real private images (with --data)."),
    rounds: int = typer.Option(3, "--rounds", help="Maximum adaptive rounds (fine-tune, then re-invert)."),
    steps_per_round: int = typer.Option(60, "--steps-per-round"),
    lr: float = typer.Option(1e-4, "--lr"),
    samples: int = typer.Option(8, "--samples", help="Inverted samples per protected class and per decoy."),
    preset: str = typer.Option("patent", "--preset", help="Inversion used to make the samples (patent: 100 steps, lr 1e-3)."),
    inversion_steps: int = typer.Option(None, "--inversion-steps", help="Override the preset's steps."),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N"),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its last finished round."),
    force_spec: bool = typer.Option(False, "--force-spec", help="Go on although --data says the input spec is wrong."),
    arch: str = ArchOption,
    mean: str = MeanOption,
    std: str = StdOption,
    normalize: str = NormalizeOption,
    channel_order: str = ChannelOrderOption,
    input_range: str = InputRangeOption,
    allow_pickle: bool = AllowPickleOption,
    as_json: bool = JsonOption,
) -> None:
    """Harden MODEL so that inverting a protected class yields its public decoy, not the person."""
    from hardener.cli.progress import progress_bar
    from hardener.defenses.decoy import DecoyConfig
    from hardener.protect import ProtectJob, run_protect

    config = DecoyConfig(alpha=alpha, beta=beta, omega=omega, retain=retain, rounds=rounds,
                         steps_per_round=steps_per_round, lr=lr, samples_per_class=samples, preset=preset,
                         inversion_steps=inversion_steps, seed=seed)
    job = ProtectJob(model=model, gan=gan, protect=protect_classes, out=out, decoy=decoy or [], public_model=public_model,
                     data=data, critic=critic, config=config, device=device, resume=resume, arch=arch,
                     spec_changes=declared_spec(mean, std, normalize, channel_order, input_range),
                     force_spec=force_spec, allow_pickle=allow_pickle)
    try:
        with progress_bar(enabled=not as_json) as progress:
            report = run_protect(job, progress)
    except KeyboardInterrupt:
        err_console.print(f"[red]interrupted[/]: finished rounds are checkpointed in {out / 'checkpoints'}; "
                          "rerun the same command with --resume to continue", highlight=False)
        raise typer.Exit(130) from None
    print_warnings(report["warnings"])
    if as_json:
        print_json(report)
        return
    table = Table(title=f"Protected {model} -> {out}")
    for column in ("round", "decoy hit rate", "protected confidence", "natural acc (--data)"):
        table.add_column(column)
    for r in report["rounds"]:
        hits = ", ".join(f"{c}: {h:.0%}" for c, h in r["decoy_hit_rate"].items())
        natural = f"{r['natural_accuracy']:.1%}" if "natural_accuracy" in r else "-"
        table.add_row(str(r["round"]), hits, f"{r['protected_confidence_after']:.2f}", natural)
    console.print(table)
    for p in report["protected"]:
        console.print(f"protected {p['class']} -> decoy {p['decoy']}", highlight=False)
    parity = report["hardened"]["onnx_parity"]["batches"]
    console.print(f"ONNX parity: max relative diff {max(b['relative'] for b in parity):.1e}; "
                  f"grid {report['grid']}; run `hardener verify` before release", highlight=False)
