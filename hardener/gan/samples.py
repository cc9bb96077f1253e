"""Sample grids from a generator and an atomic PNG writer, for per-epoch progress images."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from hardener.errors import InputError
from hardener.files import atomic_output
from hardener.gan.models import Generator


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


def tile(images: torch.Tensor, *, columns: int | None = None, padding: int = 2) -> np.ndarray:
    """(N, 3, H, W) floats in [0, 1] -> one uint8 (rows*H, columns*W, 3) grid on a black background, with
    `padding` pixels around every image (torchvision's make_grid, which also caps columns at N)."""
    from torchvision.utils import make_grid

    images = images.detach().float().cpu().clamp(0.0, 1.0)
    columns = columns or math.ceil(math.sqrt(len(images)))
    if len(images) == 1:  # make_grid returns a single image as it is, without the border
        grid = torch.nn.functional.pad(images[0], (padding,) * 4)
    else:
        grid = make_grid(images, nrow=columns, padding=padding, pad_value=0.0)
    return (grid * 255.0).round().to(torch.uint8).permute(1, 2, 0).numpy()


def save_png(array: np.ndarray, path: str | Path) -> Path:
    """Write a uint8 (H, W, 3) or (H, W) array as PNG; the file appears only once complete."""
    from PIL import Image

    array = np.asarray(array)
    if array.dtype != np.uint8 or array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[-1] != 3):
        raise InputError(f"cannot save a {array.dtype} array of shape {array.shape} as PNG", where=str(path),
                         fix="pass uint8 pixels shaped (H, W, 3) or (H, W)")
    with atomic_output(path) as tmp:
        Image.fromarray(np.ascontiguousarray(array)).save(tmp, format="PNG")
    return Path(path)
