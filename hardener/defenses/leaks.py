"""Leak endpoints for the decoy defense's `--leak-caps`: images an attack on the hardened model can reach that the
original model still names the protected person.

Why: on LFW most of what leaked from the stacked default were reconstructions the public classifier names the
decoy while the evaluation model names the person (README, "Where the leak sits"): the decoy's features and the
person's add up in the hardened model's logit, and such mixtures score as high as the decoys. protect's own GAN
makes them when asked (an inversion of the public classifier's decoy plus the original model's person), but its
re-inversions of the hardened model alone land on the pure decoys and never show them. So protect inverts the
ensemble of the hardened and the original model, which climbs to images both score high for the class, keeps
those the original names the person, and caps the hardened model's margin on them like any attack endpoint.
Only the defender's own models and GAN are used, never the attacker's GAN or evaluation model.
"""
from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn

from hardener.device import evaluating


class Ensemble(nn.Module):
    """Logits of the hardened and the original model, summed: a margin attack on it needs both."""

    def __init__(self, hardened: nn.Module, original: nn.Module):
        super().__init__()
        self.hardened, self.original = hardened, original

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hardened(x) + self.original(x)


def leak_endpoints(invert: Callable, hardened: nn.Module, original: nn.Module, protect: Sequence[int], *,
                   seed: int, task: str, device) -> tuple[torch.Tensor, torch.Tensor]:
    """Invert the ensemble for the protected classes (`invert` as the decoy defense's, its first preset) and
    return the images the original model names the class they were inverted for, with those classes."""
    inversion = invert(Ensemble(hardened, original), list(protect), seed=seed, task=task, family=False)
    with evaluating(original, device):
        named = original(inversion.images.to(device)).argmax(1).cpu()
    kept = named == inversion.targets.cpu()
    return inversion.images[kept].cpu(), inversion.targets[kept].cpu()
