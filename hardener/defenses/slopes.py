"""Decoy slopes (`protect --decoy-slopes W`): the protected class's logit rising along latent lines to the decoys.

The margin recipe lifts the decoys above floors, but an attack climbs whatever slope its start sits on, and on
the demo the climb ended elsewhere: the decoys' logits (about 18-21) stayed under those of LOMMA-logit's
endpoints (29-39; docs/MEASUREMENTS.md, "Session 37"). Here protect draws lines in its own GAN's latent box,
each from a random face to one decoy inversion's latent, and targets every point's protected logit and margin at
a linear blend: the original model's value at the line's start, rising to the decoys' floors at the decoy. The
fine-tuning then gives gradient ascent a slope that leads from anywhere on the face manifold to the decoy, the
decoy as an attractor of the class's logit rather than one high point. Only protect's GAN is used; the
attacker's stays unseen.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hardener.attacks.losses import max_margin
from hardener.evaluate import logits as model_logits
from hardener.gan.samples import generate

SLOPE_SAMPLES = 1024  # points on the lines, drawn once (the generator is frozen, so the images are too)


@dataclass(frozen=True)
class DecoySlopes:
    """Images on lines from random faces (lambda 0) to decoy latents (lambda 1) of protect's GAN, the protected
    class each line leads to, and the logit and margin targets there."""

    images: torch.Tensor
    classes: torch.Tensor
    position: torch.Tensor  # lambda: 0 at the random face, 1 at the decoy
    logit: torch.Tensor
    margin: torch.Tensor

    @classmethod
    def build(cls, model: nn.Module, generator: nn.Module, latent_dim: int, decoy_z: torch.Tensor,
              decoy_classes: torch.Tensor, floor_logit: dict[int, float], floor_margin: dict[int, float], *,
              count: int = SLOPE_SAMPLES, seed: int = 0, device: torch.device | str = "cpu",
              batch: int = 128) -> "DecoySlopes":
        """`decoy_z` (one row per decoy inversion, in the latent box) and `decoy_classes` (the protected class
        each stands for); the floors are the margin recipe's (hardener.defenses.decoy.MarginTargets). Starts are
        N(0, 1) latents clamped to the box, as the attacks draw theirs."""
        g = torch.Generator().manual_seed(seed)
        rows = torch.randint(0, len(decoy_classes), (count,), generator=g)
        classes = decoy_classes[rows].cpu()
        starts = torch.randn(count, latent_dim, generator=g).clamp(-1, 1)
        lam = torch.rand(count, generator=g)
        points = (1 - lam[:, None]) * starts + lam[:, None] * decoy_z[rows].cpu()
        start_logits = model_logits(model, generate(generator, starts, device, batch), device)
        logit0 = start_logits.gather(1, classes[:, None]).squeeze(1)
        margin0 = -max_margin(start_logits, classes)
        top_logit = torch.tensor([floor_logit[int(c)] for c in classes])
        top_margin = torch.tensor([floor_margin[int(c)] for c in classes])
        return cls(generate(generator, points, device, batch), classes, lam, logit0 + lam * (top_logit - logit0),
                   margin0 + lam * (top_margin - margin0))

    def loss(self, logits: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
        """How far the rows' protected logit and margin are from their targets (smooth L1, both ways: a point
        above its target would be a peak off the line's end)."""
        device = logits.device
        classes = self.classes[rows].to(device)
        logit = logits.gather(1, classes[:, None]).squeeze(1)
        return (F.smooth_l1_loss(logit, self.logit[rows].to(device))
                + F.smooth_l1_loss(-max_margin(logits, classes), self.margin[rows].to(device)))

