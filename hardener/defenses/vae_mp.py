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
VAE's training. The command itself (files, the VAE's training, the report) is jobs/synthesize.py.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

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
