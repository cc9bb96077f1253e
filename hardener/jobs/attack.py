"""`hardener attack`: invert a model with a preset and judge the reconstructions with an independent
evaluation model. Also the measuring stick `verify` and the benchmarks use."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from hardener.errors import InputError
from hardener.progress import ProgressFn, no_progress

PRIVATE_PER_CLASS_IN_GRID = 4


@dataclass
class AttackJob:
    model: Path
    gan: Path
    classes: str
    eval_model: Path
    data: str
    out: Path
    critic: Path | None = None
    preset: str = "gmi"
    budget: str = "paper"  # quick | standard | fast | paper (see attacks/presets.py); steps/restarts override it
    steps: int | None = None
    restarts: int | None = None
    seed: int = 0
    device: str = "auto"
    fid_weights: Path | None = None
    arch: str | None = None
    spec_changes: dict = field(default_factory=dict)
    allow_pickle: bool = False


def load_attack_tools(gan_path: Path, critic_path: Path | None, eval_path: Path, target, *, allow_pickle: bool = False):
    """The GAN that inverts `target` and the evaluation model that judges the result, both checked against
    it (image size, classes): attack and verify load them the same way. Returns (LoadedGAN, LoadedModel)."""
    from hardener.gan import check_gan_matches, load_gan

    gan = load_gan(gan_path, critic_path)
    check_gan_matches(gan, target, str(gan_path))
    return gan, load_evaluator(eval_path, target, allow_pickle=allow_pickle)


def load_evaluator(eval_path: Path, target, *, allow_pickle: bool = False):
    """An evaluation model checked against `target` (the same classes): the judge, and verify's extra judges."""
    from hardener.loading import load_model

    evaluator = load_model(eval_path, allow_pickle=allow_pickle)
    if evaluator.num_classes != target.num_classes:
        raise InputError(f"the evaluation model has {evaluator.num_classes} classes, the target {target.num_classes}",
                         where=str(eval_path), fix="train the evaluation model on the same private identities")
    return evaluator


def load_attack_job(job) -> tuple:
    """What attack and scan both start from (their jobs share these fields): the preset, its budget and
    scaled steps/restarts, the device, the target, GAN and evaluation model checked against each other, and
    the private data. An adaptive preset without a public classifier is bad input, said before any work."""
    from hardener.attacks.presets import get_attack, get_budget
    from hardener.data import load_dataset
    from hardener.device import resolve_device
    from hardener.loading import load_model

    attack = get_attack(job.preset)
    budget = get_budget(job.budget)
    steps, restarts = budget.scale(attack, job.steps, job.restarts)
    device = resolve_device(job.device)
    target = load_model(job.model, job.arch, spec_changes=job.spec_changes, allow_pickle=job.allow_pickle)
    gan, evaluator = load_attack_tools(job.gan, job.critic, job.eval_model, target.model, allow_pickle=job.allow_pickle)
    if attack.needs_public_classifier:
        attack.penalty(gan.classifier)
    return attack, budget, steps, restarts, device, target, gan, evaluator, load_dataset(job.data)


def run_attack(job: AttackJob, progress: ProgressFn = no_progress) -> dict:
    """Load everything, check it fits together, attack, measure, write report.json and grid.png."""
    from hardener.attacks.adaptive_decoy import escape_rate
    from hardener.audit.metrics import attack_metrics
    from hardener.checkpoint import CacheFolder
    from hardener.classes import label, parse_classes
    from hardener.files import prepare_out_dir, write_json
    from hardener.attacks.engine import share_at_clamp, with_overrides
    from hardener.report.images import class_grid, provenance, save_png
    from hardener.summary import model_summary

    attack, budget, steps, restarts, device, target, gan, evaluator, private = load_attack_job(job)
    classes = parse_classes(job.classes, target.num_classes, target.class_names, "--classes")
    out = prepare_out_dir(job.out, inputs=tuple(p for p in (job.model, job.gan, job.eval_model, job.critic,
                                                            job.fid_weights) if p),
                          outputs=("report.json", "grid.png"))

    inverted = attack.prepare(target.model, gan.generator, gan.latent_dim, caches=CacheFolder(out / "surrogates"),
                              budget_fraction=budget.steps_fraction, seed=job.seed, device=device,
                              progress=progress, public_classifier=gan.classifier)
    result = attack.run(gan.generator, gan.critic, inverted, classes, latent_dim=gan.latent_dim, seed=job.seed,
                        steps=steps, restarts=restarts, device=device, progress=progress,
                        public_classifier=gan.classifier)
    metrics = attack_metrics(result, evaluator.model, private, device=device)
    report_metrics = metrics.to_dict()
    if gan.classifier is not None:
        report_metrics["lure_escape_rate"] = escape_rate(result, gan.classifier, device)
    if job.fid_weights is not None:
        from hardener.audit.fid import inception_fid

        real = _private_images(private, classes, gan.image_size)
        report_metrics["inception_fid"] = inception_fid(result.images, real, job.fid_weights, device)

    names = target.class_names
    rows = [[_private_images(private, [c], gan.image_size)[:PRIVATE_PER_CLASS_IN_GRID],
             result.images[result.targets == c]] for c in classes]
    grid = save_png(class_grid(rows, gan.image_size), out / "grid.png")
    report = {
        "command": "attack",
        "preset": attack.name,
        "preset_description": attack.description,
        "budget": job.budget,
        "inversion": {**asdict(with_overrides(attack.config, steps=steps, restarts=restarts)),
                      "steps_run": result.steps_run, "latent_steps": result.latent_steps, "seed": job.seed,
                      "latent_at_clamp": share_at_clamp(result.z, attack.config.z_clamp),
                      "seconds": round(result.seconds, 2), "device": str(device)},
        "classes": [{"index": c, "label": label(c, names)} for c in classes],
        "metrics": report_metrics,
        "target": model_summary(target),
        "evaluation_model": model_summary(evaluator),
        "gan": {"path": str(job.gan), "sha256": gan.sha256, "image_size": gan.image_size, "latent_dim": gan.latent_dim},
        "data": {"source": private.source, "images": len(private)},
        "grid": str(grid),
        "grid_layout": f"one row per class: up to {PRIVATE_PER_CLASS_IN_GRID} private images, then every restart's reconstruction",
        "versions": provenance(),
    }
    write_json(out / "report.json", report)
    return report


def _private_images(private, classes: list[int], size: int) -> torch.Tensor:
    from hardener.data import to_model_input

    rows = np.flatnonzero(np.isin(private.labels, classes))
    return to_model_input(private.images[rows], size) if len(rows) else torch.zeros(0, 3, size, size)
