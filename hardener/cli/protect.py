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
    alpha: float = typer.Option(None, "--alpha", help="decoy: weight of the bounded push-away term on inverted private samples (default 1)."),
    beta: float = typer.Option(None, "--beta", help="decoy: weight of pulling inverted decoy samples into the protected class (default 2)."),
    omega: float = typer.Option(None, "--omega", help="decoy: weight of the EWC term (default 5)."),
    retain: float = typer.Option(None, "--retain", help="decoy: weight of CE on real private images, with --data (default 1)."),
    rounds: int = typer.Option(None, "--rounds", help="decoy: maximum adaptive rounds, fine-tune then re-invert (default 3)."),
    steps_per_round: int = typer.Option(None, "--steps-per-round", help="decoy: fine-tuning steps per round (default 60)."),
    lr: float = typer.Option(None, "--lr", help="Learning rate (decoy default 1e-4, tl-dmi 1e-3)."),
    samples: int = typer.Option(None, "--samples", help="decoy: inverted samples per protected class and per decoy (default 8)."),
    preset: str = typer.Option(None, "--preset", help="decoy: inversion used to make the samples (default patent: 100 steps, lr 1e-3)."),
    inversion_steps: int = typer.Option(None, "--inversion-steps", help="decoy: override the preset's steps."),
    seed: int = typer.Option(0, "--seed"),
    device: str = typer.Option("auto", "--device", help="auto | cpu | cuda | cuda:N"),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run from its last checkpoint (round or epoch)."),
    force_spec: bool = typer.Option(False, "--force-spec", help="decoy: go on although --data says the input spec is wrong."),
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
    spec = declared_spec(mean, std, normalize, channel_order, input_range)
    decoy_only = {"--gan": gan, "--protect": protect_classes, "--decoy": decoy, "--critic": critic,
                  "--public-model": public_model, "--force-spec": force_spec or None, "--alpha": alpha, "--beta": beta,
                  "--omega": omega, "--retain": retain, "--rounds": rounds, "--steps-per-round": steps_per_round,
                  "--samples": samples, "--preset": preset, "--inversion-steps": inversion_steps}
    tldmi_only = {"--pretrained": pretrained, "--freeze": freeze, "--freeze-until": freeze_until, "--val": val,
                  "--epochs": epochs, "--batch-size": batch_size}
    given = {"MODEL": model, "--data": data, **decoy_only, **tldmi_only}
    if method == "tl-dmi":
        _check_method_options(method, given, required=("--pretrained", "--data"), foreign=tuple(decoy_only))
        report = _run_transfer(model, out, data, pretrained, freeze, freeze_until, val, epochs, batch_size, lr, seed,
                               device, resume, arch, spec, allow_pickle, as_json)
        if not as_json:
            _print_transfer(report, out)
        return
    if method != "decoy":
        raise InputError(f"unknown --method {method!r}", fix="use --method decoy or --method tl-dmi")
    _check_method_options(method, given, required=("MODEL", "--gan", "--protect"), foreign=tuple(tldmi_only))
    from hardener.defenses.decoy import DecoyConfig
    from hardener.jobs.protect import ProtectJob, run_protect

    chosen = {"alpha": alpha, "beta": beta, "omega": omega, "retain": retain, "rounds": rounds,
              "steps_per_round": steps_per_round, "samples_per_class": samples, "preset": preset,
              "inversion_steps": inversion_steps, "lr": lr}
    config = DecoyConfig(**{k: v for k, v in chosen.items() if v is not None}, seed=seed)
    job = ProtectJob(model=model, gan=gan, protect=protect_classes, out=out, decoy=decoy or [], public_model=public_model,
                     data=data, critic=critic, config=config, device=device, resume=resume, arch=arch,
                     spec_changes=spec, force_spec=force_spec, allow_pickle=allow_pickle)
    report = _with_progress(run_protect, job, out, "rounds", as_json)
    if as_json:
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
    def present(value) -> bool:
        return value is not None and value != []

    missing = [name for name in required if not present(given[name])]
    if missing:
        raise InputError(f"--method {method} needs {' and '.join(missing)}", fix="see `hardener protect --help`")
    wrong = [name for name in foreign if present(given[name])]
    if wrong:
        raise InputError(f"{wrong[0]} does not apply to --method {method}", fix=f"drop {', '.join(wrong)}")


def _with_progress(run, job, out: Path, unit: str, as_json: bool) -> dict:
    """Run a protect job under a progress bar; Ctrl-C says how to resume instead of a traceback."""
    from hardener.cli.progress import progress_bar

    try:
        with progress_bar(enabled=not as_json) as progress:
            report = run(job, progress)
    except KeyboardInterrupt:
        err_console.print(f"[red]interrupted[/]: finished {unit} are checkpointed in {out / 'checkpoints'}; "
                          "rerun the same command with --resume to continue", highlight=False)
        raise typer.Exit(130) from None
    print_warnings(report["warnings"])
    if as_json:
        print_json(report)
    return report


def _run_transfer(model, out, data, pretrained, freeze, freeze_until, val, epochs, batch_size, lr, seed, device, resume,
                  arch, spec, allow_pickle, as_json) -> dict:
    from hardener.jobs.protect_transfer import TLDMI_DEFAULTS, TransferJob, run_transfer
    from hardener.train import TrainConfig

    config = TrainConfig(epochs=TLDMI_DEFAULTS.epochs if epochs is None else epochs,
                         batch_size=TLDMI_DEFAULTS.batch_size if batch_size is None else batch_size,
                         lr=TLDMI_DEFAULTS.lr if lr is None else lr, seed=seed)
    job = TransferJob(pretrained=pretrained, data=data, out=out, freeze=freeze, freeze_until=freeze_until, model=model,
                      val=val, config=config, device=device, resume=resume, arch=arch, spec_changes=spec,
                      allow_pickle=allow_pickle)
    return _with_progress(run_transfer, job, out, "epochs", as_json)


def _print_transfer(report: dict, out: Path) -> None:
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
