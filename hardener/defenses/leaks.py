"""Leak endpoints for the decoy defense's `--leak-caps`: images an attack on the hardened model can reach that
still show the protected person.

Why: on LFW most of what leaked from the stacked default were reconstructions the public classifier names the
decoy while the evaluation model names the person (docs/MEASUREMENTS.md, "Where the leak sits"): the decoy's features and the
person's add up in the hardened model's logit, and such mixtures score as high as the decoys. protect's own GAN
makes them when asked, but its re-inversions of the hardened model alone land on the pure decoys and never show
them. Seekers (`--leak-seeker`, repeatable; their endpoints pooled):
- `ensemble` inverts the hardened and the original model together, which climbs to images both score high for
  the class; kept where the original names the person;
- `mix` inverts the public classifier's margin for the class's decoy plus the original model's margin for the
  person, which asks for the on-decoy mixture itself, whatever the hardened model does; kept as `ensemble`'s;
- `plg` runs PLG-MI's two stages (hardener.attacks.plg_gan) on the hardened model through protect's own GAN: a
  conditional generator started from the GAN images the hardened model is surest of, then the latent search;
  its endpoints escape the decoys (on LFW it recovered people the decoys held against the other attacks), so it
  keeps those the public classifier does not name one of the class's decoys;
- `pseudo` runs PLG-MI's first stage alone: of random images of protect's GAN, the ones the hardened model is
  surest are the class (the attack's pool size and top k), kept where the public classifier does not name one of
  the class's decoys. plg-gan's conditional generator starts from such images; the decoys should be what that
  stage picks (on LFW it moved part of plg-gan onto the decoys, but not at every seed: README, "Against
  plg-gan's two stages").
protect caps the hardened model's margin on the endpoints like any attack endpoint, at the recipe's margin cap
(by default the real photos' median); `plg`'s and `pseudo`'s at most at BOUNDARY_CAP, below the decision
boundary: plg-gan needs only the argmax, and capping `plg`'s endpoints at the median left it at 15 of 75 on LFW
(session 26; docs/MEASUREMENTS.md, "Leak seekers"). Only the defender's own models and GAN are used, never the attacker's GAN
or evaluation model.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Collection, Mapping, Sequence

import torch
from torch import nn

from hardener.attacks.losses import max_margin
from hardener.device import evaluating
from hardener.progress import ProgressFn, no_progress

SEED_STRIDE = 50  # each seeker's inversion seeds apart from the others': its place in LEAK_SEEKERS times this
PLG_BUDGET = 0.2  # the plg seeker's conditional generator trains at verify's standard budget (100 steps)
BOUNDARY_CAP = -1.0  # the margin BELOW_BOUNDARY's seekers' endpoints are capped at: another class leads by a logit
BELOW_BOUNDARY = frozenset({"plg", "pseudo"})  # seekers whose endpoints' margin cap is at most BOUNDARY_CAP
# (by default; --leak-boundary names others)


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


@dataclass(frozen=True)
class LeakSearch:
    """What the seekers work with: `invert(model, classes, seed=, task=, family=, through=)` as the decoy
    defense's (its first preset; `through` a conditional generator in place of protect's GAN), the hardened and
    the original model, protect's GAN, the public classifier and each protected class's decoys."""

    invert: Callable
    hardened: nn.Module
    original: nn.Module
    generator: nn.Module
    latent_dim: int
    public: nn.Module
    decoys: Mapping[int, Sequence[int]]
    device: torch.device | str = "cpu"
    progress: ProgressFn = no_progress
    plg_budget: float = PLG_BUDGET  # the plg seeker's generator training, as a share of the attack's paper length


def leak_endpoints(search: LeakSearch, protect: Sequence[int], seekers: Sequence[str], *, seed: int, task: str,
                   below_boundary: Collection[str] = BELOW_BOUNDARY) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Each seeker's endpoints for the protected classes, filtered as its own rule says (module docstring),
    pooled in the order given: images, the class each was found for, and whether its cap is BOUNDARY_CAP (the
    seekers in `below_boundary`)."""
    images, targets, below = [], [], []
    for seeker in seekers:
        found = _SEEKERS[seeker](search, list(protect), seed + SEED_STRIDE * LEAK_SEEKERS.index(seeker),
                                 f"{task}: {seeker}" if len(seekers) > 1 else task)
        images.append(found[0].cpu())
        targets.append(found[1].cpu())
        below.append(torch.full((len(found[1]),), seeker in below_boundary, dtype=torch.bool))
    return torch.cat(images), torch.cat(targets), torch.cat(below)


def _names(model: nn.Module, images: torch.Tensor, device) -> torch.Tensor:
    """The class `model` names each image, on the CPU."""
    with evaluating(model, device):
        return model(images.to(device)).argmax(1).cpu()


def _named_by_original(search: LeakSearch, inversion) -> tuple[torch.Tensor, torch.Tensor]:
    kept = _names(search.original, inversion.images, search.device) == inversion.targets.cpu()
    return inversion.images[kept], inversion.targets[kept]


def _ensemble(search: LeakSearch, protect: list[int], seed: int, task: str):
    return _named_by_original(search, search.invert(Ensemble(search.hardened, search.original), protect, seed=seed,
                                                    task=task, family=False))


def _mix(search: LeakSearch, protect: list[int], seed: int, task: str):
    mix = DecoyPersonMix(search.public, search.original, {c: search.decoys[c][0] for c in protect},
                         int(search.original.num_classes))
    return _named_by_original(search, search.invert(mix, protect, seed=seed, task=task, family=False))


def _off_decoy(search: LeakSearch, images: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The rows the public classifier does not name one of their class's decoys."""
    named = _names(search.public, images, search.device)
    kept = torch.tensor([int(n) not in search.decoys[int(c)] for n, c in zip(named, targets)], dtype=torch.bool)
    return images[kept], targets[kept]


def _plg(search: LeakSearch, protect: list[int], seed: int, task: str):
    from hardener.attacks.presets import get_attack

    prepared = get_attack("plg-gan").prepare(search.hardened, search.generator, search.latent_dim,
                                             budget_fraction=search.plg_budget, seed=seed, device=search.device,
                                             progress=search.progress)
    inversion = search.invert(search.hardened, protect, seed=seed, task=task, family=False, through=prepared.generator)
    return _off_decoy(search, inversion.images, inversion.targets.cpu())


def _pseudo(search: LeakSearch, protect: list[int], seed: int, task: str):
    from hardener.attacks.plg_gan import pseudo_labels
    from hardener.attacks.presets import get_attack

    attack = get_attack("plg-gan")
    _, images, rows = pseudo_labels(search.hardened, search.generator, search.latent_dim, attack.pool_images,
                                    attack.top_k, seed, search.device)
    rows = rows[protect]  # (protected classes, k)
    targets = torch.tensor(protect).repeat_interleave(rows.shape[1])
    return _off_decoy(search, images[rows.reshape(-1)], targets)


_SEEKERS = {"ensemble": _ensemble, "mix": _mix, "plg": _plg, "pseudo": _pseudo}
LEAK_SEEKERS = tuple(_SEEKERS)  # seeds SEED_STRIDE apart in this order: ensemble +0, mix +50, plg +100, pseudo +150
