"""One base class for every attack preset (as torchattacks does: one attack per small file)."""
from __future__ import annotations

import hashlib
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator, Sequence

import torch
from torch import nn

from hardener.attacks.engine import InversionConfig, InversionResult, Penalty, invert, with_overrides
from hardener.checkpoint import CacheFolder
from hardener.progress import ProgressFn, no_progress


@dataclass(frozen=True)
class Attack:
    """A named inversion protocol; `run` scales it (`steps`, `restarts`) without changing its shape.

    An attack that needs the GAN bundle's public classifier (the adaptive attacker) says so with
    `needs_public_classifier`; callers pass it as `public_classifier` and every other attack ignores it.
    """

    name: str
    description: str
    config: InversionConfig
    needs_public_classifier: bool = False

    def run(self, generator: nn.Module, critic: nn.Module | None, target: nn.Module, classes: Sequence[int], *,
            latent_dim: int = 100, seed: int = 0, steps: int | None = None, restarts: int | None = None,
            device: torch.device | str = "cpu", progress: ProgressFn = no_progress,
            public_classifier: nn.Module | None = None) -> InversionResult:
        config = with_overrides(self.config, steps=steps, restarts=restarts)
        with borrowed(public_classifier if self.needs_public_classifier else None, torch.device(device)) as public:
            return invert(generator, critic, target, classes, config=config, latent_dim=latent_dim, seed=seed,
                          device=device, progress=progress, task=f"attack {self.name}", penalty=self.penalty(public))

    def prepare(self, target: nn.Module, generator: nn.Module, latent_dim: int, *, caches: CacheFolder | None = None,
                budget_fraction: float = 1.0, seed: int = 0, device: torch.device | str = "cpu",
                progress: ProgressFn = no_progress, public_classifier: nn.Module | None = None) -> nn.Module:
        """The network `run` inverts in place of `target`: the target itself, except for attacks that build
        something from it first (LOMMA's distilled surrogates, kept in `caches` for a later run). The GAN bundle's
        public classifier is there for attacks that build around the decoy defense's lures (plg-gan-adaptive)."""
        return target

    def penalty(self, public_classifier: nn.Module | None) -> Penalty | None:
        """A per-row loss on G(z) added to the inversion objective; none for plain attacks."""
        return None


@contextmanager
def borrowed(module: nn.Module | None, device: torch.device) -> Iterator[nn.Module | None]:
    """The module frozen, in eval mode (per-row outputs) on `device`; given back as it was (as the engine
    does with the caller's generator, critic and classifier)."""
    if module is None:
        yield None
        return
    modes = [(m, m.training) for m in module.modules()]
    flags = [(p, p.requires_grad) for p in module.parameters()]
    first = next(iter([*module.parameters(), *module.buffers()]), None)
    home = first.device if first is not None else torch.device("cpu")
    module.eval().requires_grad_(False).to(device)
    try:
        yield module
    finally:
        module.to(home)
        for m, training in modes:
            m.training = training
        for p, flag in flags:
            p.requires_grad_(flag)


def weights_hash(model: nn.Module) -> str:
    """sha256 of the state_dict's names and bytes: the cache key of what `prepare` builds from a model."""
    digest = hashlib.sha256()
    for name, value in model.state_dict().items():
        digest.update(name.encode())
        digest.update(value.detach().cpu().reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
