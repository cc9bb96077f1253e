"""One base class for every attack preset (as torchattacks does: one attack per small file)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from hardener.inversion import InversionConfig, InversionResult, invert, with_overrides
from hardener.progress import ProgressFn, no_progress


@dataclass(frozen=True)
class Attack:
    """A named inversion protocol; `run` scales it (`steps`, `restarts`) without changing its shape."""

    name: str
    description: str
    config: InversionConfig

    def run(self, generator: nn.Module, critic: nn.Module | None, target: nn.Module, classes: Sequence[int], *,
            latent_dim: int = 100, seed: int = 0, steps: int | None = None, restarts: int | None = None,
            device: torch.device | str = "cpu", progress: ProgressFn = no_progress) -> InversionResult:
        config = with_overrides(self.config, steps=steps, restarts=restarts)
        return invert(generator, critic, target, classes, config=config, latent_dim=latent_dim, seed=seed,
                      device=device, progress=progress, task=f"attack {self.name}")
