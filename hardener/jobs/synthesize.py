"""`hardener synthesize`: train (or load) the VAE, write the synthetic set, the VAE, a grid and report.json.
The mechanism itself is defenses/vae_mp.py; the VAE is defenses/vae.py, its file jobs/vae_bundle.py."""
from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hardener.data import FaceDataset, to_model_input
from hardener.defenses.vae import VAE, decode
from hardener.defenses.vae_mp import (GRID_IDENTITIES, GRID_IMAGES_PER_IDENTITY, MECHANISM, NOISE_SEED_WARNING,
                                      SECRET_NOISE_SEED, VAE_PRIVATE_WARNING, SynthesisResult,
                                      check_epsilon, check_noise_scale, synthesize)
from hardener.errors import InputError
from hardener.progress import ProgressFn, no_progress


@dataclass
class SynthesizeJob:
    """Everything `hardener synthesize` needs; `run_synthesize` does the whole job."""

    data: str
    epsilon: float
    out: Path
    vae: Path | None = None  # reuse a trained VAE instead of training one
    epochs: int | None = None  # default DEFAULT_EPOCHS; only when training
    latent_dim: int | None = None  # default DEFAULT_LATENT_DIM, or the --vae file's
    image_size: int | None = None  # default: the data's size if 32 or 64, else 64; or the --vae file's
    width: int | None = None  # default DEFAULT_WIDTH; only when training
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0  # the VAE's training only
    noise_seed: int | None = None  # None: a secret seed, never recorded; an int makes the noise reproducible
    device: str = "auto"
    resume: bool = False  # continue the VAE's training from --out/checkpoints


DEFAULT_EPOCHS = 20
DEFAULT_LATENT_DIM = 64
DEFAULT_WIDTH = 32
SEED_MIN, SEED_MAX = -(2 ** 63), 2 ** 64 - 1  # what torch.Generator.manual_seed takes


def check_job(job: SynthesizeJob) -> None:
    """Refuse bad options before any data is read or any folder made."""
    from hardener.defenses.vae import SUPPORTED_SIZES, check_lr

    check_epsilon(job.epsilon)
    check_lr(job.lr)
    if job.image_size is not None and job.image_size not in SUPPORTED_SIZES:
        raise InputError(f"image size {job.image_size} is not supported", where="--image-size",
                         fix=f"use one of: {', '.join(map(str, SUPPORTED_SIZES))}")
    for option, seed in (("--seed", job.seed), ("--noise-seed", job.noise_seed)):
        if seed is not None and not SEED_MIN <= seed <= SEED_MAX:
            raise InputError(f"{option} {seed} is out of range for a torch seed", where=option, fix=f"e.g. {option} 0")
    if job.epochs is not None and job.epochs < 1:
        raise InputError(f"--epochs must be at least 1, got {job.epochs}", where="--epochs", fix="e.g. --epochs 20")
    if job.latent_dim is not None and job.latent_dim < 1:
        raise InputError(f"--latent-dim must be at least 1, got {job.latent_dim}", where="--latent-dim",
                         fix="e.g. --latent-dim 64")
    if job.width is not None and job.width < 1:
        raise InputError(f"--width must be at least 1, got {job.width}", where="--width", fix="e.g. --width 32")
    if job.batch_size < 1:
        raise InputError(f"--batch-size must be at least 1, got {job.batch_size}", where="--batch-size",
                         fix="e.g. --batch-size 64")
    if job.vae is None:  # with --vae the latent dim is the file's: checked once the file is read
        check_noise_scale(job.epsilon, job.latent_dim or DEFAULT_LATENT_DIM)
        if job.resume:
            from hardener.jobs.checkpoints import VAE_CHECKPOINT, checkpoint

            checkpoint(job.out, VAE_CHECKPOINT, resume=True)  # refused here, before --out exists, if it has none
    else:
        training_only = [name for name, value in (("--epochs", job.epochs), ("--width", job.width),
                                                  ("--resume", job.resume or None)) if value is not None]
        if training_only:
            raise InputError(f"{' and '.join(training_only)} only apply when a VAE is trained, not with --vae",
                             where=str(job.vae), fix=f"drop {' and '.join(training_only)}, or drop --vae to train anew")


def run_synthesize(job: SynthesizeJob, progress: ProgressFn = no_progress) -> dict:
    """Load the data, train (or load) the VAE, write synthetic.npz, vae.safetensors, grid.png, report.json."""
    from hardener.data import load_dataset
    from hardener.data.splits import save_npz
    from hardener.device import resolve_device
    from hardener.files import prepare_out_dir, refuse_input_overwrite, write_json
    from hardener.report.images import provenance

    check_job(job)
    device = resolve_device(job.device)
    loaded = _load_vae_option(job)
    if loaded is not None:
        check_noise_scale(job.epsilon, loaded.latent_dim)
    data = load_dataset(job.data)
    inputs = tuple(p for p in (job.data, job.vae) if p is not None and Path(p).exists())
    out = prepare_out_dir(job.out, inputs=inputs, outputs=("synthetic.npz", "vae.safetensors", "report.json", "grid.png",
                                                                  "checkpoints"))
    started = time.perf_counter()
    if loaded is None:
        vae_report, vae = _train_and_save(job, data, out, inputs, device, progress)
    else:
        vae_report, vae = _reused_report(loaded), loaded.vae
    secret = job.noise_seed is None
    noise_seed = secrets.randbits(63) if secret else job.noise_seed
    result = synthesize(vae, data, job.epsilon, seed=noise_seed, device=device, batch_size=256, progress=progress)
    # A secret noise_seed goes nowhere from here (report, file, screen): the guarantee assumes nobody knows the noise.
    warnings = [VAE_PRIVATE_WARNING.format(path=vae_report["path"])]
    if not secret:
        warnings.append(NOISE_SEED_WARNING.format(seed=job.noise_seed))
    target = out / "synthetic.npz"
    refuse_input_overwrite(target, inputs)
    save_npz(FaceDataset(result.images, data.labels.astype(np.int64), data.names, f"synthetic from {data.source}"),
             target, source_rows=np.arange(len(data), dtype=np.int64))
    refuse_input_overwrite(out / "grid.png", inputs)
    grid = _write_grid(vae, data, result, out / "grid.png", device)
    report = {
        "command": "synthesize",
        "defense": "vae-mp",
        "epsilon": job.epsilon,
        "latent_dim": vae.latent_dim,
        "image_size": vae.image_size,
        "mechanism": MECHANISM,
        "metrics": result.metrics,
        "vae": vae_report,
        "data": {"source": data.source, "images": len(data), "identities": int(len(np.unique(data.labels))),
                 "image_size": int(data.images.shape[1])},
        "synthetic": {"path": str(target), "images": len(result.images), "labels_kept": True},
        "seeds": {"noise": SECRET_NOISE_SEED if secret else job.noise_seed, "vae_training": vae_report.get("seed")},
        "warnings": warnings,
        "device": str(device),
        "seconds": round(time.perf_counter() - started, 2),
        "grid": str(grid),
        "grid_layout": (f"one row per identity (up to {GRID_IDENTITIES}): up to {GRID_IMAGES_PER_IDENTITY} originals, "
                        f"then their VAE reconstructions (no noise), then their synthetic images at epsilon {job.epsilon}"),
        "next_step": f"hardener train classifier {target} --out ...",
        "versions": provenance(),
    }
    refuse_input_overwrite(out / "report.json", inputs)
    write_json(out / "report.json", report)
    return report


def _load_vae_option(job: SynthesizeJob):
    """The --vae file, checked against --image-size and --latent-dim when those were given too."""
    if job.vae is None:
        return None
    from hardener.jobs.vae_bundle import load_vae

    loaded = load_vae(job.vae)
    for option, asked, actual in (("--image-size", job.image_size, loaded.image_size),
                                  ("--latent-dim", job.latent_dim, loaded.latent_dim)):
        if asked is not None and asked != actual:
            raise InputError(f"{option} {asked} does not match the VAE file's {actual}", where=str(job.vae),
                             fix=f"drop {option}, pass {option} {actual}, or train a new VAE without --vae")
    return loaded


def _train_and_save(job: SynthesizeJob, data: FaceDataset, out: Path, inputs: tuple, device: torch.device,
                    progress: ProgressFn) -> tuple[dict, VAE]:
    from hardener.files import refuse_input_overwrite
    from hardener.defenses.vae import train_vae
    from hardener.jobs.checkpoints import VAE_CHECKPOINT, checkpoint
    from hardener.jobs.vae_bundle import save_vae

    epochs = job.epochs or DEFAULT_EPOCHS
    image_size = job.image_size or _default_size(data)
    trained = train_vae(data, image_size=image_size, latent_dim=job.latent_dim or DEFAULT_LATENT_DIM,
                        epochs=epochs, batch_size=job.batch_size, lr=job.lr, seed=job.seed, device=device,
                        width=job.width or DEFAULT_WIDTH, checkpoint=checkpoint(out, VAE_CHECKPOINT, job.resume),
                        progress=progress)
    path = out / "vae.safetensors"
    refuse_input_overwrite(path, inputs)
    save_vae(trained.vae, path, epochs=epochs, seed=job.seed, reconstruction=trained.reconstruction,
             produced_by="hardener synthesize")
    report = {"path": str(path), "trained": True, "epochs": epochs, "seed": job.seed, "width": trained.vae.width,
              "latent_dim": trained.vae.latent_dim, "image_size": trained.vae.image_size,
              "reconstruction_term": trained.reconstruction, "batch_size": job.batch_size, "lr": job.lr,
              "seconds": round(trained.seconds, 2), "history": trained.history}
    return report, trained.vae


def _reused_report(loaded) -> dict:
    return {"path": str(loaded.source), "trained": False, "sha256": loaded.sha256, "epochs": loaded.epochs,
            "seed": loaded.seed, "width": loaded.vae.width, "latent_dim": loaded.latent_dim,
            "image_size": loaded.image_size, "reconstruction_term": loaded.metadata.get("reconstruction"),
            "seconds": 0.0}


def _default_size(data: FaceDataset) -> int:
    from hardener.defenses.vae import SUPPORTED_SIZES

    size = int(data.images.shape[1])
    return size if size in SUPPORTED_SIZES and data.images.shape[2] == size else 64


def _write_grid(vae: VAE, data: FaceDataset, result: SynthesisResult, path: Path, device: torch.device) -> Path:
    from hardener.report.images import class_grid, save_png

    rows = []
    for identity in np.unique(data.labels)[:GRID_IDENTITIES]:
        picked = np.flatnonzero(data.labels == identity)[:GRID_IMAGES_PER_IDENTITY]
        originals = to_model_input(data.images[picked], vae.image_size)
        recon = decode(vae, result.codes[torch.from_numpy(picked)], device=device)
        synthetic = to_model_input(result.images[picked], vae.image_size)
        rows.append([originals, recon, synthetic])
    return save_png(class_grid(rows, vae.image_size), path)
