"""VAE + metric privacy (VAE-MP): release a model trained on synthetic faces, never on private pixels.

After "a privacy-preserving generative framework against membership inference attacks": a VAE is
trained on the private data; each private image is encoded to its posterior mean, that code is
perturbed with noise satisfying metric (d_chi) privacy for a chosen epsilon, and the noisy code is
decoded into a synthetic image with the original's label. The released model is then trained on the
synthetic set (`hardener train classifier --data synthetic.npz`).

The mechanism is the multivariate Laplace mechanism in R^d: noise density proportional to
exp(-epsilon * ||noise||_2), drawn as r * u with u uniform on the unit sphere and r ~ Gamma(d, 1/epsilon),
so E[r] = d / epsilon. Since d is an integer, r is drawn exactly as a sum of d exponentials with rate
epsilon, from a seeded torch.Generator (the same seed gives the same noise on every device).

The guarantee assumes the adversary does not know the noise, so `hardener synthesize` draws it from a
secret seed (`secrets.randbits`) that is never written anywhere; `--noise-seed` makes it reproducible for
tests and benchmarks, with a warning that such a synthetic set is not private. `--seed` seeds only the
VAE's training.
"""
from __future__ import annotations

import math
import secrets
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from hardener.data import FaceDataset, to_dataset_images, to_model_input
from hardener.errors import InputError
from hardener.progress import ProgressEvent, ProgressFn, no_progress
from hardener.defenses.vae import VAE, decode, encode_mean

TASK = "synthesize"
MECHANISM = ("multivariate Laplace mechanism (metric d_chi privacy, Euclidean distance) on the VAE posterior "
             "mean: noise = r * u, u uniform on the unit sphere of R^d, r ~ Gamma(shape=d, scale=1/epsilon), "
             "density proportional to exp(-epsilon * ||noise||_2)")
GRID_IDENTITIES = 8
GRID_IMAGES_PER_IDENTITY = 3
# Largest mean noise radius d/epsilon drawn. Latent codes have norms of order sqrt(d); far below this
# limit every synthetic image is already pure noise, and far above it float32 overflows (inf noise, NaN images).
MAX_NOISE_RADIUS = 1e12
SECRET_NOISE_SEED = "secret, not recorded"
VAE_PRIVATE_WARNING = ("{path} was trained on the private data: keep it private and never release it "
                       "(release only a model trained on synthetic.npz)")
NOISE_SEED_WARNING = ("--noise-seed {seed} makes the privacy noise reproducible: anyone who knows the seed can "
                      "regenerate and subtract the noise, so this synthetic set must not be treated as private "
                      "(leave --noise-seed out for a secret seed)")


def check_epsilon(epsilon: float) -> float:
    """Epsilon must be a positive finite number (0 or infinity would mean infinite or no noise)."""
    if not isinstance(epsilon, (int, float)) or not math.isfinite(epsilon) or epsilon <= 0:
        raise InputError(f"epsilon must be a positive finite number, got {epsilon}", where="--epsilon",
                         fix="e.g. --epsilon 10 (smaller means more noise and more privacy)")
    return float(epsilon)


def check_noise_scale(epsilon: float, d: int) -> float:
    """Refuse an epsilon so small that the noise radius d/epsilon cannot be computed in float32 (inf
    noise, NaN images) or is absurdly larger than any latent code. Returns d/epsilon."""
    epsilon = check_epsilon(epsilon)
    radius = d / epsilon if d >= 1 else 0.0
    if not math.isfinite(radius) or radius > MAX_NOISE_RADIUS:
        raise InputError(f"epsilon {epsilon:g} with latent dim {d} gives a mean noise radius d/epsilon of {radius:.3g}, "
                         f"above the limit of {MAX_NOISE_RADIUS:g} (inf in float32, or images of pure noise)",
                         where="--epsilon", fix=f"use --epsilon {d / MAX_NOISE_RADIUS:.3g} or more; e.g. --epsilon 10")
    return radius


def laplace_noise(n: int, d: int, epsilon: float, generator: torch.Generator) -> torch.Tensor:
    """n draws (float32, CPU) of the d-dimensional Laplace mechanism for metric privacy at `epsilon`."""
    check_epsilon(epsilon)
    if n < 0 or d < 1:
        raise InputError(f"cannot draw {n} noise vectors of dimension {d}", fix="use n >= 0 and d >= 1")
    check_noise_scale(epsilon, d)
    direction = torch.randn(n, d, generator=generator, dtype=torch.float64)
    direction = direction / direction.norm(dim=1, keepdim=True).clamp_min(1e-300)
    # Gamma(d, 1/epsilon) with integer shape d: the sum of d Exp(epsilon) draws, each -log(1 - U) / epsilon.
    uniforms = torch.rand(n, d, generator=generator, dtype=torch.float64)
    radius = -torch.log1p(-uniforms).sum(dim=1, keepdim=True) / epsilon
    noise = (radius * direction).float()
    if not bool(torch.isfinite(noise).all()):  # a Gamma tail past float32: refuse rather than write NaN images
        raise InputError(f"epsilon {epsilon:g} gives noise too large for float32 (latent dim {d})", where="--epsilon",
                         fix=f"use a larger --epsilon, e.g. {10 * d / MAX_NOISE_RADIUS:.3g} or more")
    return noise


@dataclass
class SynthesisResult:
    """The synthetic images (uint8 NHWC, one per original, same order) and what was measured making them."""

    images: np.ndarray
    codes: torch.Tensor  # posterior means of the originals
    noise_radius: torch.Tensor  # ||noise|| per image
    metrics: dict = field(default_factory=dict)


def synthesize(vae: VAE, data: FaceDataset, epsilon: float, *, seed: int, device: torch.device | str = "cpu",
               batch_size: int = 256, progress: ProgressFn = no_progress) -> SynthesisResult:
    """One synthetic image per image of `data`: decode(encode_mean(x) + Laplace noise at `epsilon`).
    The noise for all images is drawn at once from `seed`, so batching and device never change it. The
    privacy guarantee holds only while `seed` stays secret: pass e.g. secrets.randbits(63) and do not keep it."""
    epsilon = check_epsilon(epsilon)
    check_noise_scale(epsilon, vae.latent_dim)
    x = to_model_input(data.images, vae.image_size)
    codes = encode_mean(vae, x, device=device, batch_size=batch_size)
    noise = laplace_noise(len(codes), vae.latent_dim, epsilon, torch.Generator().manual_seed(seed))
    sums = {"synthetic": 0.0, "reconstruction": 0.0}
    pixels = []
    for start in range(0, len(x), batch_size):
        stop = start + batch_size
        synthetic = decode(vae, codes[start:stop] + noise[start:stop], device=device, batch_size=batch_size)
        recon = decode(vae, codes[start:stop], device=device, batch_size=batch_size)
        sums["synthetic"] += float(((synthetic - x[start:stop]) ** 2).sum())
        sums["reconstruction"] += float(((recon - x[start:stop]) ** 2).sum())
        pixels.append(to_dataset_images(synthetic))
        progress(ProgressEvent(TASK, min(stop, len(x)), len(x), {"epsilon": epsilon}))
    radius = noise.norm(dim=1)
    count = max(x.numel(), 1)
    metrics = {
        "mse_original_vs_synthetic": sums["synthetic"] / count,
        "reconstruction_mse": sums["reconstruction"] / count,
        "constant_mean_image_mse": float(((x - x.mean(0, keepdim=True)) ** 2).mean()) if len(x) else 0.0,
        "noise_radius": {"measured_mean": float(radius.mean()) if len(radius) else None,
                         "expected_mean": vae.latent_dim / epsilon},
        "latent_code_norm": _norm_summary(codes),
    }
    images = np.concatenate(pixels) if pixels else np.zeros((0, vae.image_size, vae.image_size, 3), np.uint8)
    return SynthesisResult(images, codes, radius, metrics)


def _norm_summary(codes: torch.Tensor) -> dict:
    """How long the latent codes are: what the noise radius d/epsilon should be compared with."""
    if not len(codes):
        return {}
    norms = codes.norm(dim=1)
    return {"mean": float(norms.mean()), "median": float(norms.median()),
            "p90": float(norms.quantile(0.9)), "per_dim_std": float(codes.std(0).mean()) if len(codes) > 1 else 0.0}


# --- the whole command ---------------------------------------------------------------------------

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
            from hardener.checkpoint import require_checkpoint
            from hardener.defenses.vae import CHECKPOINT_NAME

            require_checkpoint(Path(job.out) / "checkpoints" / CHECKPOINT_NAME)
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
    from hardener.defenses.vae import load_vae

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
    from hardener.defenses.vae import save_vae, train_vae

    epochs = job.epochs or DEFAULT_EPOCHS
    image_size = job.image_size or _default_size(data)
    trained = train_vae(data, image_size=image_size, latent_dim=job.latent_dim or DEFAULT_LATENT_DIM,
                        epochs=epochs, batch_size=job.batch_size, lr=job.lr, seed=job.seed, device=device,
                        width=job.width or DEFAULT_WIDTH, checkpoint_dir=out / "checkpoints", resume=job.resume,
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
