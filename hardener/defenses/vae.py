"""A small convolutional VAE for face crops and its training (its file is hardener.jobs.vae_bundle).

The VAE-MP defense (hardener.defenses.vae_mp) encodes each private image to its posterior mean,
perturbs that code and decodes it, so the released model never sees a private pixel. The network is
kept small on purpose: a 64 px, ~2,000-image, ~20-epoch training fits in minutes on one CPU thread.

Encoder: stride-2 4x4 convolutions (width, 2*width, ...) down to a 4x4 map, then one linear layer to
the mean and log-variance. Decoder: the mirror image, sigmoid output in [0, 1]. Training maximises the
ELBO with a Bernoulli (binary cross-entropy) or Gaussian (squared error) reconstruction term, both
summed over pixels, plus the KL divergence to N(0, I).
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from hardener.checkpoint import Checkpoint, restore, states
from hardener.data import FaceDataset, fingerprint, to_model_input
from hardener.device import evaluating
from hardener.errors import InputError
from hardener.progress import ProgressEvent, ProgressFn, no_progress

SUPPORTED_SIZES = (32, 64)
RECONSTRUCTIONS = ("bernoulli", "gaussian")
SEED_SIZE = 4  # the encoder's last feature map and the decoder's first are 4x4
LOGVAR_LIMIT = 10.0  # clamp on the log-variance: keeps exp() finite early in training
TASK = "train vae"


class VAE(nn.Module):
    """images (B, 3, S, S) in [0, 1] -> (mean, log-variance) of q(z|x); z (B, latent_dim) -> images."""

    def __init__(self, image_size: int = 64, latent_dim: int = 64, width: int = 32) -> None:
        super().__init__()
        check_dims(image_size, latent_dim, width)
        self.image_size, self.latent_dim, self.width = image_size, latent_dim, width
        stages = (image_size // SEED_SIZE).bit_length() - 1  # 64 -> 4, 32 -> 3
        channels = [width * 2 ** i for i in range(stages)]  # 64 px, width 32: 32, 64, 128, 256
        down: list[nn.Module] = []
        for c_in, c_out in zip([3] + channels[:-1], channels):
            down += [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.LeakyReLU(0.2)]
        self.encoder = nn.Sequential(*down, nn.Flatten())
        flat = channels[-1] * SEED_SIZE * SEED_SIZE
        self.to_stats = nn.Linear(flat, 2 * latent_dim)
        self.from_code = nn.Sequential(nn.Linear(latent_dim, flat), nn.LeakyReLU(0.2))
        up: list[nn.Module] = []
        reversed_channels = channels[::-1]
        for c_in, c_out in zip(reversed_channels, reversed_channels[1:]):
            up += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.LeakyReLU(0.2)]
        up.append(nn.ConvTranspose2d(channels[0], 3, 4, 2, 1))
        self.decoder = nn.Sequential(*up)
        self._top = channels[-1]

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and (clamped) log-variance of the posterior q(z|x)."""
        mean, logvar = self.to_stats(self.encoder(x)).chunk(2, dim=1)
        return mean, logvar.clamp(-LOGVAR_LIMIT, LOGVAR_LIMIT)

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Pre-sigmoid pixels: the Bernoulli loss is computed on these for numerical stability."""
        h = self.from_code(z).view(len(z), self._top, SEED_SIZE, SEED_SIZE)
        return self.decoder(h)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.decode_logits(z))


def check_dims(image_size: int, latent_dim: int, width: int) -> None:
    """One clear error for sizes the network cannot be built with."""
    if image_size not in SUPPORTED_SIZES:
        raise InputError(f"VAE image size {image_size} is not supported", where="--image-size",
                         fix=f"use one of: {', '.join(map(str, SUPPORTED_SIZES))}")
    if latent_dim < 1:
        raise InputError(f"latent dim {latent_dim} must be at least 1", where="--latent-dim", fix="e.g. --latent-dim 64")
    if width < 1:
        raise InputError(f"VAE width {width} must be at least 1", where="--width", fix="e.g. --width 32")


def check_lr(lr: float) -> float:
    """The Adam learning rate must be a positive finite number (0, negative, nan or inf cannot train)."""
    if not isinstance(lr, (int, float)) or not math.isfinite(lr) or lr <= 0:
        raise InputError(f"learning rate {lr} must be a positive finite number", where="--lr", fix="e.g. --lr 1e-3")
    return float(lr)


@dataclass
class VAEResult:
    """The trained VAE (eval mode, on the CPU), one history row per epoch, and the settings that made it."""

    vae: VAE
    history: list[dict] = field(default_factory=list)
    seconds: float = 0.0
    epochs: int = 0
    seed: int = 0
    reconstruction: str = "bernoulli"

    @property
    def final(self) -> dict:
        return self.history[-1] if self.history else {}


def train_vae(dataset: FaceDataset, *, image_size: int = 64, latent_dim: int = 64, epochs: int = 20,
              batch_size: int = 64, lr: float = 1e-3, seed: int = 0, device: torch.device | str = "cpu",
              width: int = 32, reconstruction: str = "bernoulli", checkpoint: Checkpoint | None = None,
              progress: ProgressFn = no_progress) -> VAEResult:
    """Train a VAE on every image of `dataset` (labels unused). Deterministic on the CPU for a seed: the
    initial weights, the batch order and the reparameterisation noise all come from `seed`. With a
    `checkpoint`, weights, Adam and the random stream are saved after every epoch (hardener.checkpoint), and
    a resuming one continues from there to the weights an uninterrupted run ends with."""
    check_dims(image_size, latent_dim, width)
    if epochs < 1 or batch_size < 1:
        raise InputError("--epochs and --batch-size must be at least 1", fix="e.g. --epochs 20 --batch-size 64")
    check_lr(lr)
    if reconstruction not in RECONSTRUCTIONS:
        raise InputError(f"unknown reconstruction term {reconstruction!r}", fix=f"use one of: {', '.join(RECONSTRUCTIONS)}")
    device = torch.device(device)
    with torch.random.fork_rng(devices=[]):  # seeded weights without touching the caller's random stream
        torch.manual_seed(seed)
        vae = VAE(image_size, latent_dim, width)
    vae.to(device).train()
    x_all = to_model_input(dataset.images, image_size)
    optimizer = torch.optim.Adam(vae.parameters(), lr=lr)
    generator = torch.Generator().manual_seed(seed)
    steps_per_epoch = -(-len(x_all) // batch_size)
    result = VAEResult(vae, epochs=epochs, seed=seed, reconstruction=reconstruction)
    objects = {"vae": vae, "optimizer": optimizer, "rng": generator}
    identity = {"image_size": image_size, "latent_dim": latent_dim, "batch_size": batch_size, "lr": lr, "seed": seed,
                "width": width, "reconstruction": reconstruction, "data_sha256": fingerprint(dataset)}  # not epochs:
    # no schedule depends on them, so a resume may also train on past the interrupted run's last epoch
    start_epoch = _resume(checkpoint, objects, identity, result) if checkpoint is not None else 0
    started = time.perf_counter()
    for epoch in range(start_epoch, epochs):
        order = torch.randperm(len(x_all), generator=generator)
        sums = {"loss": 0.0, "reconstruction": 0.0, "kl": 0.0, "mse": 0.0}
        for step, start in enumerate(range(0, len(order), batch_size)):
            x = x_all[order[start:start + batch_size]]
            noise = torch.randn(len(x), latent_dim, generator=generator)
            x, noise = x.to(device, non_blocking=True), noise.to(device, non_blocking=True)
            terms = _elbo_terms(vae, x, noise, reconstruction)
            loss = terms["reconstruction"] + terms["kl"]
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            for key, value in (("loss", loss), *terms.items()):
                sums[key] += float(value.detach()) * len(x)
            progress(ProgressEvent(TASK, epoch * steps_per_epoch + step + 1, epochs * steps_per_epoch,
                                   {"loss": float(loss.detach()), "epoch": epoch + 1}))
        row = {"epoch": epoch + 1, **{k: v / len(x_all) for k, v in sums.items()},
               "seconds": round(time.perf_counter() - started, 2)}
        result.history.append(row)
        if checkpoint is not None:
            checkpoint.save(kind="vae", identity=identity,
                            state={**states(objects), "epoch": epoch + 1, "history": result.history})
        progress(ProgressEvent(TASK, (epoch + 1) * steps_per_epoch, epochs * steps_per_epoch, row,
                               message=_epoch_line(row, epochs)))
    result.seconds = time.perf_counter() - started
    result.vae = vae.cpu().eval()
    return result


def _resume(checkpoint: Checkpoint, objects: dict, identity: dict, result: VAEResult) -> int:
    """Restore the interrupted run's state when the checkpoint resumes; the epoch to continue from (0 for a new run)."""
    state = checkpoint.load(kind="vae", identity=identity)
    if state is None:
        return 0
    restore(objects, state, checkpoint.path)
    result.history = list(state["history"])
    return int(state["epoch"])


def _elbo_terms(vae: VAE, x: torch.Tensor, noise: torch.Tensor, reconstruction: str) -> dict[str, torch.Tensor]:
    """Per-image averages of the negative ELBO's two terms (each summed over pixels or latent dims),
    plus the per-pixel squared error of the sampled reconstruction for the log."""
    mean, logvar = vae.encode(x)
    z = mean + noise * torch.exp(0.5 * logvar)
    logits = vae.decode_logits(z)
    if reconstruction == "bernoulli":
        rec = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    else:
        rec = F.mse_loss(torch.sigmoid(logits), x, reduction="sum")
    kl = -0.5 * torch.sum(1 + logvar - mean.pow(2) - logvar.exp())
    mse = F.mse_loss(torch.sigmoid(logits).detach(), x)
    return {"reconstruction": rec / len(x), "kl": kl / len(x), "mse": mse}


def _epoch_line(row: dict, epochs: int) -> str:
    return (f"epoch {row['epoch']}/{epochs}: loss {row['loss']:.1f} (reconstruction {row['reconstruction']:.1f}, "
            f"KL {row['kl']:.1f}), pixel MSE {row['mse']:.4f}")


def encode_mean(vae: VAE, images: torch.Tensor, *, device: torch.device | str = "cpu",
                batch_size: int = 256) -> torch.Tensor:
    """Posterior means of float [0, 1] NCHW images at the VAE's size, on the CPU: the deterministic code
    the privacy mechanism perturbs (sampling q(z|x) would add noise nobody accounts for). Runs in eval
    mode on `device`; the VAE goes back to its previous device and mode afterwards."""
    _check_images(vae, images)
    with evaluating(vae, device):
        codes = [vae.encode(images[i:i + batch_size].to(device))[0].cpu() for i in range(0, len(images), batch_size)]
    return torch.cat(codes) if codes else torch.zeros(0, vae.latent_dim)


def decode(vae: VAE, codes: torch.Tensor, *, device: torch.device | str = "cpu", batch_size: int = 256) -> torch.Tensor:
    """Codes (N, latent_dim) -> float [0, 1] NCHW images on the CPU (eval mode on `device`; the VAE goes
    back to its previous device and mode afterwards)."""
    if codes.ndim != 2 or codes.shape[1] != vae.latent_dim:
        raise InputError(f"codes have shape {tuple(codes.shape)}, the VAE takes (N, {vae.latent_dim})",
                         fix="encode with the same VAE")
    with evaluating(vae, device):
        images = [vae(codes[i:i + batch_size].to(device).float()).cpu() for i in range(0, len(codes), batch_size)]
    return torch.cat(images) if images else torch.zeros(0, 3, vae.image_size, vae.image_size)


def _check_images(vae: VAE, images: torch.Tensor) -> None:
    if images.ndim != 4 or tuple(images.shape[1:]) != (3, vae.image_size, vae.image_size):
        raise InputError(f"images have shape {tuple(images.shape)}, the VAE takes (N, 3, {vae.image_size}, "
                         f"{vae.image_size})", fix=f"resize to {vae.image_size} px with hardener.data.to_model_input")
