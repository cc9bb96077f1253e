"""Differentiable random augmentations of G(z) for PPA-style inversion (Struppek et al., ICML 2022).

One affine warp per view does PPA's random resized crop (area 50-90 %, aspect 0.8-1.25), a horizontal flip
(p = 0.5) and a small rotation (+-10 degrees) at once, through `affine_grid` + `grid_sample`, so the
gradient reaches z. Every row's warp parameters are drawn up front from that row's own generator, seeded by
(seed, class, restart, purpose): a row sees the same warps whichever rows share its batch, which keeps the
engine's row-independence promise (up to CPU kernels rounding differently with batch shape).
"""
from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

AUGMENTATIONS = ("ppa",)
PARAMS = 6  # area, log aspect, centre x, centre y, flip, angle: one uniform draw each
CROP_AREA = (0.5, 0.9)
CROP_ASPECT = (0.8, 1.25)
MAX_DEGREES = 10.0
STEP_SALT, SELECT_SALT = 1, 2  # the optimisation's warps and the final selection's are different draws


def row_warps(classes: Sequence[int], restarts: int, seed: int, count: int, views: int, salt: int) -> torch.Tensor:
    """Uniform draws (rows, count, views, PARAMS); a row's draws depend only on (seed, class, restart, salt)."""
    draws = []
    for c in classes:
        for r in range(restarts):
            gen = torch.Generator().manual_seed((seed * 1_000_003 + int(c) * 7_919 + r + salt * 104_729) % (2**63 - 1))
            draws.append(torch.rand(count, views, PARAMS, generator=gen))
    return torch.stack(draws)


def warp(images: torch.Tensor, uniforms: torch.Tensor, *, crop_area: tuple[float, float] = CROP_AREA) -> torch.Tensor:
    """Apply one view per row: images (B, C, H, W), uniforms (B, views, PARAMS) -> (B * views, C, H, W),
    rows in order (row 0 view 0, row 0 view 1, ...). `crop_area`: the share of the image a crop keeps."""
    rows, views, _ = uniforms.shape
    u = uniforms.reshape(rows * views, PARAMS).to(images.device, torch.float32)
    area = crop_area[0] + (crop_area[1] - crop_area[0]) * u[:, 0]
    log_aspect = math.log(CROP_ASPECT[0]) + (math.log(CROP_ASPECT[1]) - math.log(CROP_ASPECT[0])) * u[:, 1]
    width = (area * log_aspect.exp()).sqrt().clamp(max=1.0)  # fractions of the image side
    height = (area / log_aspect.exp()).sqrt().clamp(max=1.0)
    centre_x = (1 - width) * (2 * u[:, 2] - 1)  # normalised coordinates in [-1, 1]: the crop stays inside
    centre_y = (1 - height) * (2 * u[:, 3] - 1)
    flip = torch.where(u[:, 4] < 0.5, -1.0, 1.0)
    angle = math.radians(MAX_DEGREES) * (2 * u[:, 5] - 1)
    cos, sin = angle.cos(), angle.sin()
    theta = torch.stack([torch.stack([cos * width * flip, -sin * height, centre_x], 1),
                         torch.stack([sin * width * flip, cos * height, centre_y], 1)], 1)
    source = images.repeat_interleave(views, 0)
    grid = F.affine_grid(theta.to(source.dtype), list(source.shape), align_corners=False)
    return F.grid_sample(source, grid, mode="bilinear", padding_mode="border", align_corners=False)
