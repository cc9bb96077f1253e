"""`hardener protect`: the patent's decoy defense (adaptive rounds) or TL-DMI, exported and reported."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hardener.cli.common import (AllowPickleOption, ArchOption, ChannelOrderOption, InputRangeOption, JsonOption,
                                 MeanOption, NormalizeOption, StdOption, console, declared_spec, err_console,
                                 handles_errors, print_json, print_warnings)
from hardener.errors import InputError


@handles_errors
def protect(
    model: Path = typer.Argument(None, help="The model to harden (never modified). tl-dmi: the model it replaces (optional, checked for the same architecture)."),
    out: Path = typer.Option(..., "--out", help="Output folder: hardened.safetensors, hardened.onnx, report.json, report.md (decoy: grid.png)."),
    method: str = typer.Option("decoy", "--method", help="decoy (the patent: needs MODEL, --gan, --protect) or tl-dmi (needs --pretrained, --data, --freeze or --freeze-until)."),
    gan: Path = typer.Option(None, "--gan", help="decoy: GAN bundle (holds the public classifier), or a GMI generator (then --critic, --public-model)."),
    protect_classes: list[str] = typer.Option(None, "--protect", help="decoy: class to protect: index, name, range or all; repeat for several."),
    decoy: list[str] = typer.Option(None, "--decoy", help="Public decoy class per --protect, in order; chosen automatically when left out."),
    public_model: Path = typer.Option(None, "--public-model", help="Public classifier; default: the one in the GAN bundle."),
    data: str = typer.Option(None, "--data", help="Private training images. decoy: Fisher information, the retain term, the spec check. tl-dmi: the training set."),
    pretrained: Path = typer.Option(None, "--pretrained", help="tl-dmi: a model trained on PUBLIC identities (e.g. `hardener train classifier` on the public half)."),
    freeze: int = typer.Option(None, "--freeze", help="tl-dmi: freeze the first K layer groups (see `hardener info`)."),
    freeze_until: str = typer.Option(None, "--freeze-until", help="tl-dmi: freeze every layer group up to and including this one, e.g. layer3."),
    val: str = typer.Option(None, "--val", help="tl-dmi: held-out private images for the accuracy in the report."),
    epochs: int = typer.Option(None, "--epochs", help="tl-dmi: training epochs (default 20)."),
    batch_size: int = typer.Option(None, "--batch-size", help="tl-dmi: batch size (default 64)."),
    critic: Path = typer.Option(None, "--critic", help="Critic checkpoint when --gan is a bare generator."),
    alpha: float = typer.Option(1.0, "--alpha", help="Weight of the bounded push-away term on inverted private samples."),
    beta: float = typer.Option(2.0, "--beta", help="Weight of pulling inverted decoy samples into the protected class."),
    omega: float = typer.Option(5.0, "--omega", help="Weight of the EWC term."),
    retain: float = typer.Option(1.0, "--retain", help="Weight of CE on real private images (with --data)."),
    rounds: int = typer.Option(3, "--rounds", help="Maximum adaptive rounds (fine-tune, then re-invert)."),
    steps_per_round: int = typer.Option(60, "--steps-per-round"),
    lr: float = typer.Option(None, "--lr", help="Learning rate (decoy default 1e-4, tl-dmi 1e-3)."),
    samples: int = typer.Option(8, "--samples", help="Inverted samples per protected class and per decoy."),
    preset: str = typer.Option("patent", "--preset", help="Inversion used to make the samples (patent: 100 steps, lr 1e-3)."),
    inversion_steps: int = typer.Option(None, "--inversion-steps", help="Override the preset's steps."),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N"),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its last checkpoint (round or epoch)."),
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
    """Harden a model against model inversion: the decoy defense (inverting a protected class yields its
    public decoy, not the person) or TL-DMI (only the last layer groups learn from private data)."""
    from hardener.cli.progress import progress_bar

    spec = declared_spec(mean, std, normalize, channel_order, input_range)
    given = {"MODEL": model, "--gan": gan, "--protect": protect_classes, "--decoy": decoy, "--critic": critic,
             "--public-model": public_model, "--pretrained": pretrained, "--freeze": freeze,
             "--freeze-until": freeze_until, "--val": val, "--epochs": epochs, "--batch-size": batch_size}
    if method == "tl-dmi":
        _check_method_options(method, given, required=("--pretrained",),
                              foreign=("--gan", "--protect", "--decoy", "--critic", "--public-model"))
        if data is None:
            raise InputError("--method tl-dmi trains on the private data", where="--data", fix="pass --data PRIVATE_TRAIN")
        _run_transfer(model, out, data, pretrained, freeze, freeze_until, val, epochs, batch_size, lr, seed, device,
                      resume, arch, spec, allow_pickle, as_json)
        return
    if method != "decoy":
        raise InputError(f"unknown --method {method!r}", fix="use --method decoy or --method tl-dmi")
    _check_method_options(method, given, required=("MODEL", "--gan", "--protect"),
                          foreign=("--pretrained", "--freeze", "--freeze-until", "--val", "--epochs", "--batch-size"))
    from hardener.defenses.decoy import DecoyConfig
    from hardener.protect import ProtectJob, run_protect

    config = DecoyConfig(alpha=alpha, beta=beta, omega=omega, retain=retain, rounds=rounds,
                         steps_per_round=steps_per_round, lr=1e-4 if lr is None else lr, samples_per_class=samples, preset=preset,
                         inversion_steps=inversion_steps, seed=seed)
    job = ProtectJob(model=model, gan=gan, protect=protect_classes, out=out, decoy=decoy or [], public_model=public_model,
                     data=data, critic=critic, config=config, device=device, resume=resume, arch=arch,
                     spec_changes=spec, force_spec=force_spec, allow_pickle=allow_pickle)
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


def _check_method_options(method: str, given: dict, *, required: tuple[str, ...], foreign: tuple[str, ...]) -> None:
    missing = [name for name in required if not given[name]]
    if missing:
        raise InputError(f"--method {method} needs {' and '.join(missing)}", fix="see `hardener protect --help`")
    wrong = [name for name in foreign if given[name]]
    if wrong:
        raise InputError(f"{wrong[0]} does not apply to --method {method}", fix=f"drop {', '.join(wrong)}")


def _run_transfer(model, out, data, pretrained, freeze, freeze_until, val, epochs, batch_size, lr, seed, device, resume,
                  arch, spec, allow_pickle, as_json) -> None:
    from hardener.cli.progress import progress_bar
    from hardener.protect_transfer import TLDMI_DEFAULTS, TransferJob, run_transfer
    from hardener.train import TrainConfig

    config = TrainConfig(epochs=epochs or TLDMI_DEFAULTS.epochs, batch_size=batch_size or TLDMI_DEFAULTS.batch_size,
                         lr=TLDMI_DEFAULTS.lr if lr is None else lr, seed=seed)
    job = TransferJob(pretrained=pretrained, data=data, out=out, freeze=freeze, freeze_until=freeze_until, model=model,
                      val=val, config=config, device=device, resume=resume, arch=arch, spec_changes=spec,
                      allow_pickle=allow_pickle)
    try:
        with progress_bar(enabled=not as_json) as progress:
            report = run_transfer(job, progress)
    except KeyboardInterrupt:
        err_console.print(f"[red]interrupted[/]: finished epochs are checkpointed in {out / 'checkpoints'}; "
                          "rerun the same command with --resume to continue", highlight=False)
        raise typer.Exit(130) from None
    print_warnings(report["warnings"])
    if as_json:
        print_json(report)
        return
    params = report["parameters"]
    console.print(f"TL-DMI: froze {', '.join(report['frozen_groups']) or 'nothing'}; trained "
                  f"{', '.join(report['trained_groups'])} ({params['trained_on_private_data']:,} of {params['total']:,} "
                  f"parameters) on private data", highlight=False)
    natural = report["natural_accuracy"]
    if natural:
        baseline = f" (model replaced: {natural['baseline']:.1%})" if "baseline" in natural else ""
        console.print(f"held-out accuracy {natural['hardened']:.1%}{baseline}", highlight=False)
    parity = report["hardened"]["onnx_parity"]["batches"]
    console.print(f"ONNX parity: max relative diff {max(b['relative'] for b in parity):.1e}; wrote {out}; "
                  "run `hardener verify` before release", highlight=False)
