"""Report artefacts shared by every job: image grids, the atomic PNG writer and run provenance."""
from __future__ import annotations

import math
import platform
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from hardener.errors import InputError
from hardener.files import atomic_output

def class_grid(rows: Sequence[Sequence[torch.Tensor]], size: int) -> np.ndarray:
    """One grid row per class, each row the concatenation of its image groups (e.g. private photos,
    then reconstructions), every image resized to `size` and rows padded to the same length."""
    flat_rows = []
    for groups in rows:
        images = [g for g in groups if len(g)]
        row = torch.cat([_resize(g, size) for g in images]) if images else torch.zeros(0, 3, size, size)
        flat_rows.append(row)
    columns = max((len(r) for r in flat_rows), default=1) or 1
    padded = [torch.cat([r, torch.zeros(columns - len(r), 3, size, size)]) for r in flat_rows]
    return tile(torch.cat(padded) if padded else torch.zeros(1, 3, size, size), columns=columns)


def provenance() -> dict:
    from hardener import __version__

    return {"hardener": __version__, "torch": torch.__version__, "python": platform.python_version(),
            "cuda": torch.version.cuda if torch.cuda.is_available() else None}


def _resize(images: torch.Tensor, size: int) -> torch.Tensor:
    images = images.float()
    if images.shape[-1] != size:
        images = torch.nn.functional.interpolate(images, size=(size, size), mode="bilinear", antialias=True,
                                                 align_corners=False)
    return images.clamp(0, 1)


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
