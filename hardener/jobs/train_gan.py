"""`hardener train gan` as one library call: the GAN, its sample grids, and the public classifier that
`protect` needs, all in one bundle."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from hardener.data import load_dataset, require_identities
from hardener.files import prepare_out_dir, write_json
from hardener.gan.bundle import save_gan_bundle
from hardener.gan.samples import sample_grid
from hardener.report.images import save_png
from hardener.gan.train import train_gan
from hardener.jobs.checkpoints import CLASSIFIER_CHECKPOINT, GAN_CHECKPOINT, checkpoint, checkpoint_file
from hardener.progress import ProgressFn, no_progress


@dataclass
class GanJob:
    data: str
    out: Path
    image_size: int = 64
    epochs: int = 10
    batch_size: int = 64
    width: int = 64
    seed: int = 0
    device: str = "auto"
    resume: bool = False
    skip_bad_images: bool = False
    classifier_arch: str | None = "resnet"  # None: no public classifier in the bundle
    classifier_variant: str | None = None
    classifier_epochs: int = 30
    max_steps: int | None = None
    lr: float = 2e-4  # GMI's
    n_critic: int = 5  # GMI's; 1 with lr 1e-3 trains a small 32-px GAN fast on a CPU (the demo's)
    ema_decay: float | None = None  # release a moving average of the generator (the demo's GANs: 0.999)
    extra: dict = field(default_factory=dict)


def run_gan_job(job: GanJob, progress: ProgressFn = no_progress) -> dict:
    """Train the GAN (and, on labelled data, the public classifier), write gan.safetensors and report.json."""
    from hardener.device import resolve_device
    from hardener.jobs.train_classifier import ClassifierJob, run_classifier_job
    from hardener.train import TrainConfig

    device = resolve_device(job.device)
    data = load_dataset(job.data, skip_bad_images=job.skip_bad_images)
    run_checkpoint = checkpoint(job.out, GAN_CHECKPOINT, job.resume)
    out = prepare_out_dir(job.out, outputs=("gan.safetensors", "report.json", "checkpoints", "samples",
                                                  "public_classifier"))
    samples = out / "samples"
    samples.mkdir(exist_ok=True)

    def save_samples(epoch: int, generator) -> None:
        save_png(sample_grid(generator, n=64, seed=job.seed), samples / f"epoch_{epoch:03d}.png")

    result = train_gan(data, image_size=job.image_size, epochs=job.epochs, batch_size=job.batch_size, width=job.width,
                       seed=job.seed, lr=job.lr, n_critic=job.n_critic, device=str(device),
                       checkpoint=run_checkpoint, progress=progress,
                       on_epoch_end=save_samples, max_steps=job.max_steps,
                       ema_decay=job.ema_decay)
    classifier_report, classifier, names = None, None, None
    labelled = job.classifier_arch is not None and len(np.unique(data.labels)) >= 2
    if labelled:
        require_identities(data)
        classifier_report = run_classifier_job(ClassifierJob(
            data=job.data, arch=job.classifier_arch, variant=job.classifier_variant, image_size=job.image_size,
            out=out / "public_classifier", device=job.device, skip_bad_images=job.skip_bad_images,
            # a run interrupted while the GAN trained never started the classifier: it starts now
            resume=job.resume and checkpoint_file(out / "public_classifier", CLASSIFIER_CHECKPOINT).exists(),
            config=TrainConfig(epochs=job.classifier_epochs, seed=job.seed)), progress)
        from hardener.loading import load_model

        public = load_model(classifier_report["model"]["path"])
        classifier, names = public.model, public.class_names
    bundle = save_gan_bundle(out / "gan.safetensors", result.generator.cpu(), result.critic.cpu(),
                             classifier=classifier, class_names=names, produced_by="hardener train gan")
    report = {
        "command": "train gan",
        "gan": {"path": str(bundle), "image_size": job.image_size, "width": job.width, "latent_dim": result.generator.latent_dim,
                "epochs": result.epochs_done, "steps": result.steps, "seconds": round(result.seconds, 2),
                "history": result.history,
                "samples": sorted(str(p) for p in samples.glob("epoch_*.png"))},
        "public_classifier": None if classifier_report is None else {
            "arch": classifier_report["model"]["arch"], "variant": classifier_report["model"]["variant"],
            "classes": classifier_report["model"]["classes"], "final": classifier_report["final"],
            "seconds": classifier_report["seconds"]},
        "data": {"source": data.source, "images": len(data), "identities": int(len(np.unique(data.labels))),
                 "skipped_bad_images": data.skipped},
        "config": {k: v for k, v in job.__dict__.items() if k not in ("out", "extra")} | {"device": str(device)},
        "notes": result.notes,
    }
    write_json(out / "report.json", report)
    return report
