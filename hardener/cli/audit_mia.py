"""`hardener audit-mia`: measure how well an attacker tells a model's training faces from held-out ones."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hardener.cli.common import AllowPickleOption, DeviceOption, JsonOption, console, handles_errors, print_json


@handles_errors
def audit_mia(
    model: Path = typer.Argument(..., help="The model to audit."),
    members: str = typer.Option(..., "--members", help="Images the model was trained on (.npz, ImageFolder), labelled with its class indices."),
    non_members: str = typer.Option(..., "--non-members", help="Images of the same identities it never saw (held out)."),
    out: Path = typer.Option(..., "--out", help="Output folder: report.json, roc.png."),
    shadows: int = typer.Option(0, "--shadows", help="Shadow models for the LiRA attack: 0 skips it, otherwise at least 2 (16+ for steadier scores)."),
    reference: str = typer.Option(None, "--reference", help="Extra labelled images of the same identities, only used to train shadows."),
    shadow_epochs: int = typer.Option(10, "--shadow-epochs", help="Shadow training epochs. Shadows should be trained like the audited model (same epochs, batch size, lr, augmentation), else LiRA under- or over-states the leak."),
    shadow_batch_size: int = typer.Option(64, "--shadow-batch-size", help="Shadow training batch size."),
    shadow_lr: float = typer.Option(1e-3, "--shadow-lr", help="Shadow AdamW learning rate (cosine schedule)."),
    shadow_no_augment: bool = typer.Option(False, "--shadow-no-augment", help="Train shadows without flip/shift augmentation (match the audited model)."),
    seed: int = typer.Option(0, "--seed", help="Seed for the shadows' data halves, initialisation and batch order."),
    device: str = DeviceOption,
    allow_pickle: bool = AllowPickleOption,
    resume: bool = typer.Option(False, "--resume", help="Keep the shadow models an interrupted run finished (checkpoints in --out) and train the rest."),
    as_json: bool = JsonOption,
) -> None:
    """Membership-inference audit: loss/confidence threshold attacks and (with --shadows) online LiRA.

    Reports ROC AUC, balanced accuracy and TPR at 0.1% and 1% FPR per attack, and draws roc.png.
    max_auc is the strongest attack's max(AUC, 1 - AUC): an AUC below 0.5 leaks too (flip the threshold).
    Balanced accuracy uses the best threshold on the audited sets, so it is >= 50% by construction and
    optimistic on small sets; judge the leak by AUC and TPR at low FPR.
    """
    from hardener.jobs.audit_mia import AuditMiaJob, run_audit_mia
    from hardener.cli.progress import progress_bar
    from hardener.train import TrainConfig

    config = TrainConfig(epochs=shadow_epochs, batch_size=shadow_batch_size, lr=shadow_lr, augment=not shadow_no_augment)
    job = AuditMiaJob(model=model, members=members, non_members=non_members, out=out, reference=reference,
                      shadows=shadows, shadow_config=config, seed=seed, device=device, allow_pickle=allow_pickle,
                      resume=resume)
    with progress_bar(enabled=not as_json) as progress:
        report = run_audit_mia(job, progress)
    if as_json:
        print_json(report)
        return
    counts = report["counts"]
    table = Table(title=f"Membership inference on {model} ({counts['members']} members, "
                        f"{counts['non_members']} non-members)",
                  caption=f"TPR@FPR read without interpolation; lowest non-zero FPR here is 1/{counts['non_members']}. "
                          "Balanced acc. uses the best threshold on these sets: >= 50% by construction, optimistic "
                          "on small sets")
    for column in ("attack", "AUC", "balanced acc", "TPR@0.1%FPR", "TPR@1%FPR"):
        table.add_column(column, justify="right")
    for name, m in report["attacks"].items():
        table.add_row(name, f"{m['auc']:.3f}", f"{m['balanced_accuracy']:.1%}", f"{m['tpr_at_fpr']['0.001']:.1%}",
                      f"{m['tpr_at_fpr']['0.01']:.1%}")
    console.print(table)
    console.print(f"max AUC {report['max_auc']:.3f} ({report['max_auc_attack']}; max(AUC, 1 - AUC): an AUC below 0.5 "
                  "leaks too)", highlight=False)
    console.print(f"roc: {report['roc']}  report: {out / 'report.json'}", highlight=False)
