"""Leak endpoints for the decoy defense's `--leak-caps`: images an attack on the hardened model can reach that the
original model still names the protected person.

Why: on LFW most of what leaked from the stacked default were reconstructions the public classifier names the
decoy while the evaluation model names the person (README, "Where the leak sits"): the decoy's features and the
person's add up in the hardened model's logit, and such mixtures score as high as the decoys. protect's own GAN
makes them when asked, but its re-inversions of the hardened model alone land on the pure decoys and never show
them. Two seekers (`--leak-seeker`): `ensemble` inverts the hardened and the original model together, which climbs
to images both score high for the class; `mix` inverts the public classifier's margin for the class's decoy plus
the original model's margin for the person, which asks for the mixture itself, whatever the hardened model does;
`both` pools the two. protect keeps the endpoints the original names the person and caps the hardened model's
margin on them like any attack endpoint. Only the defender's own models and GAN are used, never the attacker's GAN
or evaluation model.
"""
from __future__ import annotations

from typing import Callable, Mapping, Sequence

import torch
from torch import nn

from hardener.attacks.losses import max_margin
from hardener.device import evaluating

LEAK_SEEKERS = ("ensemble", "mix", "both")
MIX_SEED_OFFSET = 50  # the mix seeker's inversion seeds, apart from the ensemble's (`both` pools the two)


class Ensemble(nn.Module):
    """Logits of the hardened and the original model, summed: a margin attack on it needs both."""

    def __init__(self, hardened: nn.Module, original: nn.Module):
        super().__init__()
        self.hardened, self.original = hardened, original

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.hardened(x) + self.original(x)


class DecoyPersonMix(nn.Module):
    """Column c of a protected class: the public classifier's margin for c's decoy plus the original model's
    margin for c; every other column 0. A margin attack on it makes images that look like the decoy to the one and
    like the person to the other (on LFW: 15 of 15 a class named the decoy, 13-15 the person; lfw-s24/hybrid.py)."""

    def __init__(self, public: nn.Module, original: nn.Module, decoys: Mapping[int, int], num_classes: int):
        super().__init__()
        self.public, self.original, self.num_classes = public, original, num_classes
        self.decoys = {int(c): int(d) for c, d in decoys.items()}

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        public, original = self.public(x).float(), self.original(x).float()
        columns = torch.zeros(len(x), self.num_classes, device=x.device)
        for c, d in self.decoys.items():
            columns[:, c] = -max_margin(public, _every_row(x, d)) - max_margin(original, _every_row(x, c))
        return columns


def _every_row(x: torch.Tensor, label: int) -> torch.Tensor:
    return torch.full((len(x),), label, device=x.device)


def leak_endpoints(invert: Callable, hardened: nn.Module, original: nn.Module, protect: Sequence[int], *,
                   seed: int, task: str, device, seeker: str = "ensemble", public: nn.Module | None = None,
                   decoys: Mapping[int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Invert with `seeker` for the protected classes (`invert` as the decoy defense's, its first preset) and
    return the images the original model names the class they were inverted for, with those classes. `mix` and
    `both` need the public classifier and each protected class's decoy."""
    if seeker not in LEAK_SEEKERS:
        raise ValueError(f"unknown leak seeker {seeker!r}")
    models = []
    if seeker in ("ensemble", "both"):
        models.append((Ensemble(hardened, original), seed, task))
    if seeker in ("mix", "both"):
        mix = DecoyPersonMix(public, original, {c: decoys[c] for c in protect}, int(original.num_classes))
        models.append((mix, seed + MIX_SEED_OFFSET, f"{task}: decoy-person mix" if seeker == "both" else task))
    images, targets = [], []
    for model, model_seed, model_task in models:
        inversion = invert(model, list(protect), seed=model_seed, task=model_task, family=False)
        with evaluating(original, device):
            named = original(inversion.images.to(device)).argmax(1).cpu()
        kept = named == inversion.targets.cpu()
        images.append(inversion.images[kept].cpu())
        targets.append(inversion.targets[kept].cpu())
    return torch.cat(images), torch.cat(targets)
