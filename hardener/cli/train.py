"""`hardener train classifier|gan`: the models an attack or a defense needs, trained here."""
from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hardener.cli.common import (DeviceOption, ImageSizeOption, JsonOption, VariantOption, console, handles_errors,
                                 print_json)

train_app = typer.Typer(help="Train a classifier (target, public or evaluation model) or a GAN.", no_args_is_help=True)

DataArgument = typer.Argument(..., help="Training data: .npz (images, labels, names), an ImageFolder, or synthetic:ids=N,per=M,size=S,seed=K.")
DeviceOption = DeviceOption
SeedOption = typer.Option(0, "--seed", help="Seed for initialisation, batch order, augmentation and splits.")
ResumeOption = typer.Option(False, "--resume", help="Continue an interrupted run from the checkpoint in --out.")
SkipBadOption = typer.Option(False, "--skip-bad-images", help="Skip unreadable images in an ImageFolder (they are counted in the report).")


@train_app.command("classifier")
@handles_errors
def classifier(
    data: str = DataArgument,
    out: Path = typer.Option(..., "--out", help="Output folder: model.safetensors, report.json, checkpoints/."),
    arch: str = typer.Option("resnet", "--arch", help="Architecture (see `hardener plugins`)."),
    variant: str = VariantOption,
    image_size: int = ImageSizeOption,
    epochs: int = typer.Option(30, "--epochs", help="Passes over the training images."),
    batch_size: int = typer.Option(64, "--batch-size"),
    lr: float = typer.Option(1e-3, "--lr", help="AdamW learning rate (cosine schedule)."),
    val: str = typer.Option(None, "--val", help="Held-out data; default: --val-fraction of each identity's images."),
    val_fraction: float = typer.Option(0.2, "--val-fraction", min=0.0, max=0.9, help="Share of each identity held out when --val is not given (0: none)."),
    classes_from: Path = typer.Option(None, "--classes-from", help="Text file of identity names (one per line): train on those only."),
    no_augment: bool = typer.Option(False, "--no-augment", help="Disable flip/shift augmentation."),
    label_smoothing: float = typer.Option(0.0, "--label-smoothing", help="Label smoothing factor; negative (e.g. -0.05) is NegLS, a model-inversion defense (ICLR 2024)."),
    smoothing_schedule: str = typer.Option("constant", "--smoothing-schedule", help="constant, or negls: no smoothing for the first half of the epochs, ramped in over the third quarter (the NegLS paper's)."),
    random_erasing: float = typer.Option(0.0, "--random-erasing", help="Share of training images with a random 10-40% rectangle replaced by noise (MIDRE defense, TMLR 2025)."),
    seed: int = SeedOption,
    device: str = DeviceOption,
    resume: bool = ResumeOption,
    skip_bad_images: bool = SkipBadOption,
    as_json: bool = JsonOption,
) -> None:
    """Train a face classifier with any plugin: bundle, report.json, a checkpoint every epoch.

    With --label-smoothing < 0 (NegLS) or --random-erasing (MIDRE), the model is trained from scratch with
    that training-time model-inversion defense."""
    from hardener.cli.progress import progress_bar
    from hardener.jobs.train_classifier import ClassifierJob, run_classifier_job
    from hardener.train import TrainConfig

    job = ClassifierJob(data=data, arch=arch, out=out, variant=variant, image_size=image_size, val=val,
                        val_fraction=val_fraction, classes_from=classes_from, skip_bad_images=skip_bad_images,
                        device=device, resume=resume,
                        config=TrainConfig(epochs=epochs, batch_size=batch_size, lr=lr, augment=not no_augment, seed=seed,
                                           label_smoothing=label_smoothing, smoothing_schedule=smoothing_schedule,
                                           random_erasing=random_erasing))
    with progress_bar(enabled=not as_json) as progress:
        report = run_classifier_job(job, progress)
    if as_json:
        print_json(report)
        return
    final = report["final"]
    table = Table(title=f"Trained {report['model']['arch']}/{report['model']['variant']} -> {report['model']['path']}")
    for column in ("epochs", "train acc", "held-out acc", "images (train/held-out)", "classes", "seconds"):
        table.add_column(column, justify="right")
    held = f"{final['val_acc']:.1%}" if "val_acc" in final else "-"
    table.add_row(str(final.get("epoch", 0)), f"{final.get('train_acc', 0):.1%}", held,
                  f"{report['data']['train_images']}/{report['data']['held_out_images']}",
                  str(report["model"]["classes"]), f"{report['seconds']:.1f}")
    console.print(table)
    if report["data"]["skipped_bad_images"]:
        console.print(f"[yellow]skipped {len(report['data']['skipped_bad_images'])} unreadable images[/] (listed in report.json)")


@train_app.command("gan")
@handles_errors
def gan(
    data: str = DataArgument,
    out: Path = typer.Option(..., "--out", help="Output folder: gan.safetensors, samples/, checkpoints/, report.json."),
    image_size: int = typer.Option(64, "--image-size", min=8, max=1024, help="32 or 64 (the GMI layout is 64)."),
    epochs: int = typer.Option(10, "--epochs"),
    batch_size: int = typer.Option(64, "--batch-size"),
    width: int = typer.Option(64, "--width", help="Base channel width; 64 is GMI's size, 16 trains fast on a CPU."),
    lr: float = typer.Option(2e-4, "--lr", help="Adam learning rate of both networks (GMI's 2e-4; 1e-3 with --n-critic 1 learns small GANs fast)."),
    n_critic: int = typer.Option(5, "--n-critic", min=1, help="Critic steps per generator step (WGAN-GP's 5)."),
    ema_decay: float = typer.Option(None, "--ema-decay", help="Save a moving average of the generator's weights with this decay (e.g. 0.999): cleaner faces from short runs."),
    classifier_arch: str = typer.Option("resnet", "--classifier-arch", help="Architecture of the public classifier trained on the same labelled data."),
    classifier_epochs: int = typer.Option(30, "--classifier-epochs"),
    no_classifier: bool = typer.Option(False, "--no-classifier", help="Do not train the public classifier."),
    seed: int = SeedOption,
    device: str = DeviceOption,
    resume: bool = ResumeOption,
    skip_bad_images: bool = SkipBadOption,
    as_json: bool = JsonOption,
) -> None:
    """Train a GMI-style GAN (WGAN-GP) on public faces, plus the public classifier `protect` needs."""
    from hardener.cli.progress import progress_bar
    from hardener.jobs.train_gan import GanJob, run_gan_job

    job = GanJob(data=data, out=out, image_size=image_size, epochs=epochs, batch_size=batch_size, width=width,
                 seed=seed, device=device, resume=resume, skip_bad_images=skip_bad_images,
                 classifier_arch=None if no_classifier else classifier_arch, classifier_epochs=classifier_epochs,
                 lr=lr, n_critic=n_critic, ema_decay=ema_decay)
    with progress_bar(enabled=not as_json) as progress:
        report = run_gan_job(job, progress)
    if as_json:
        print_json(report)
        return
    g = report["gan"]
    console.print(f"GAN: {g['epochs']} epochs, {g['steps']} critic steps in {g['seconds']:.1f} s -> {g['path']}",
                  highlight=False)
    if g["samples"]:
        console.print(f"samples: {g['samples'][-1]}", highlight=False)
    pub = report["public_classifier"]
    if pub:
        held = pub["final"].get("val_acc")
        console.print(f"public classifier: {pub['arch']}/{pub['variant']}, {pub['classes']} classes, held-out "
                      f"accuracy {'-' if held is None else f'{held:.1%}'}", highlight=False)
