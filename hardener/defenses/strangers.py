"""How often a model names a random face as a protected person: the decoy defense's cost to strangers.

The decoys' lift spreads over the GAN's whole face manifold (hardener.defenses.decoy). Held-out accuracy on the
private people does not show what that does to everyone else: a face-recognition service that receives a stranger's
photo would name the protected person. Random faces of a GAN stand in for strangers; the share of them each
protected class takes, before and after, is reported by protect (docs/MEASUREMENTS.md, "Session 37": on the demo at
seed 0, one protected class took 45 % of protect's GAN's random faces after the defense, 10 % before).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

from hardener.evaluate import logits as model_logits
from hardener.gan.samples import random_faces

STRANGERS = 512  # random faces: a share's 95 % interval is at most +-4.3 points
STRANGER_SEED = 2_718_281  # apart from the seeds protect's rounds draw from at a small --seed


def stranger_faces(generator: nn.Module, latent_dim: int, count: int = STRANGERS, seed: int = STRANGER_SEED,
                   device: torch.device | str = "cpu", batch: int = 128) -> torch.Tensor:
    """The random faces protect reports on: `count` of them from `seed` (hardener.gan.samples.random_faces)."""
    return random_faces(generator, latent_dim, count, seed, device, batch)


def top_classes(model: nn.Module, faces: torch.Tensor, device: torch.device | str = "cpu",
                batch: int = 256) -> torch.Tensor:
    """Each face's top-1 class under `model` (on the CPU)."""
    return model_logits(model, faces, device, batch).argmax(1)


def named_shares(model: nn.Module, faces: torch.Tensor, classes: Sequence[int], device: torch.device | str = "cpu",
                 batch: int = 256) -> dict[int, float]:
    """The share of `faces` whose top-1 class under `model` is each of `classes`."""
    top = top_classes(model, faces, device, batch)
    return {int(c): float((top == int(c)).float().mean()) for c in classes}


def named_any(model: nn.Module, faces: torch.Tensor, classes: Sequence[int], device: torch.device | str = "cpu",
              batch: int = 256) -> np.ndarray:
    """Per face: does `model` name it as any of `classes` (the paired data verify's strangers check needs)."""
    return torch.isin(top_classes(model, faces, device, batch), torch.tensor(list(classes))).numpy()
