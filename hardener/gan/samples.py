"""Samples of a generator: grids for per-epoch progress images, and seeded random faces for the defenses."""
from __future__ import annotations

import numpy as np
import torch

from hardener.device import evaluating
from hardener.errors import InputError
from hardener.gan.models import Generator
from hardener.report.images import tile


def sample_grid(generator: Generator, n: int = 16, seed: int = 0, *, columns: int | None = None,
                padding: int = 2) -> np.ndarray:
    """n images from fixed noise (same seed -> same z, so grids from successive epochs compare) as one
    uint8 (H, W, 3) array. The generator is sampled in eval mode and its mode restored, so sampling
    never touches BatchNorm statistics or the training random stream."""
    if n < 1:
        raise InputError(f"cannot draw a grid of {n} samples", fix="ask for at least 1 sample")
    device = next(generator.parameters()).device
    z = torch.randn(n, generator.latent_dim, generator=torch.Generator().manual_seed(seed)).to(device)
    was_training = generator.training
    generator.eval()
    try:
        with torch.no_grad():
            images = generator(z).clamp(0.0, 1.0).cpu()
    finally:
        generator.train(was_training)
    return tile(images, columns=columns, padding=padding)


def generate(generator: torch.nn.Module, latents: torch.Tensor, device: torch.device | str = "cpu",
             batch: int = 128) -> torch.Tensor:
    """The faces an unconditional generator makes of `latents`, in eval mode in batches on `device`, as float on
    the CPU."""
    with evaluating(generator, device):
        return torch.cat([generator(latents[i:i + batch].to(device)).float().cpu()
                          for i in range(0, len(latents), batch)])


def random_faces(generator: torch.nn.Module, latent_dim: int, count: int, seed: int,
                 device: torch.device | str = "cpu", batch: int = 128) -> torch.Tensor:
    """`count` faces of an unconditional generator from N(0, 1) latents drawn from `seed` (not clamped)."""
    z = torch.randn(count, latent_dim, generator=torch.Generator().manual_seed(seed))
    return generate(generator, z, device, batch)
