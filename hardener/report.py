"""Report artefacts shared by attack, protect and verify: image grids and run provenance."""
from __future__ import annotations

import platform
from typing import Sequence

import numpy as np
import torch

from hardener.gan.samples import save_png, tile

__all__ = ["class_grid", "provenance", "save_png"]


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
