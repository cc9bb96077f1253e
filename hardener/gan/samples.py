"""Sample grids from a generator, for per-epoch progress images."""
from __future__ import annotations

import numpy as np
import torch

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

