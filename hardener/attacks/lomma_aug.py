"""LOMMA model augmentation (Nguyen et al., CVPR 2023): invert an ensemble of the target and surrogates
distilled from it, so the latent must convince models that share the target's decisions but not its
quirks (nor a defense's local changes), with LOMMA's logit loss on the GMI protocol.

The surrogates are small CNNs (three, widths 16/24/32, one seed each) trained by knowledge distillation
(KL divergence to the target's softmax, Adam lr 1e-3, batch 64) on GAN samples: the GAN is the attacker's
public-image model, so its samples stand in for LOMMA's public dataset, which verify does not receive.
Distillation runs once per target, GAN, budget and seed, and is kept in `caches` (verify's and attack's
--out/surrogates) under the target's and the GAN's weight hashes. `distill_epochs` at the `paper` budget is our
choice, not LOMMA's published schedule (which we did not reproduce); other budgets scale it like the steps.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hardener.attacks.base import Attack, weights_hash
from hardener.checkpoint import CacheFolder
from hardener.device import evaluating
from hardener.attacks.engine import InversionConfig
from hardener.progress import ProgressEvent, ProgressFn, no_progress

WIDTHS = (16, 24, 32)


class SmallNet(nn.Module):
    """Three conv blocks and a linear head: a surrogate of another architecture than any face model here."""

    def __init__(self, num_classes: int, width: int) -> None:
        super().__init__()
        layers, channels = [], 3
        for out in (width, 2 * width, 4 * width):
            layers += [nn.Conv2d(channels, out, 3, padding=1, bias=False), nn.BatchNorm2d(out), nn.ReLU(inplace=True),
                       nn.MaxPool2d(2)]
            channels = out
        self.features = nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(channels, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


class Ensemble(nn.Module):
    """Mean logits of its members; with the logit loss this is the mean of each member's loss."""

    def __init__(self, members: list[nn.Module]) -> None:
        super().__init__()
        self.members = nn.ModuleList(members)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([m(x).float() for m in self.members]).mean(0)


@dataclass(frozen=True)
class LommaAugAttack(Attack):
    distill_images: int = 2048  # GAN samples labelled by the target's softmax
    distill_epochs: int = 20  # at the paper budget; scaled like the steps by other budgets

    def prepare(self, target: nn.Module, generator: nn.Module, latent_dim: int, *, caches: CacheFolder | None = None,
                budget_fraction: float = 1.0, seed: int = 0, device: torch.device | str = "cpu",
                progress: ProgressFn = no_progress, public_classifier: nn.Module | None = None) -> nn.Module:
        epochs = max(1, round(self.distill_epochs * budget_fraction))
        key = f"{weights_hash(target)[:16]}-g{weights_hash(generator)[:8]}-e{epochs}-n{self.distill_images}-s{seed}"
        cache = caches.entry(f"lomma_surrogates_{key}") if caches is not None else None
        state = cache.load() if cache is not None else None
        if state is not None:  # no GAN samples to draw nor to label: the surrogates are known
            torch.manual_seed(seed)  # the surrogates' initial weights (overwritten; kept for the same global stream)
            surrogates = [SmallNet(state["0.head.weight"].shape[0], w) for w in WIDTHS]
            for i, s in enumerate(surrogates):
                s.load_state_dict({k[len(f"{i}."):]: v for k, v in state.items() if k.startswith(f"{i}.")})
        else:
            images = _gan_samples(generator, latent_dim, self.distill_images, seed, device)
            with evaluating(target, device):
                soft = torch.cat([target(chunk.to(device)).float().softmax(1).cpu() for chunk in images.split(256)])
            torch.manual_seed(seed)  # the surrogates' initial weights
            surrogates = [SmallNet(soft.shape[1], w) for w in WIDTHS]
            for i, s in enumerate(surrogates):
                _distill(s, images, soft, epochs, seed + i, device, progress, f"distil LOMMA surrogate {i + 1}/{len(WIDTHS)}")
            if cache is not None:
                cache.save({f"{i}.{k}": v for i, s in enumerate(surrogates) for k, v in s.state_dict().items()})
        return Ensemble([target, *[s.eval() for s in surrogates]])


def _gan_samples(generator: nn.Module, latent_dim: int, count: int, seed: int, device) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed)
    z = torch.randn(count, latent_dim, generator=gen).clamp(-1.0, 1.0)
    was_training = generator.training
    generator.eval()
    with torch.no_grad():
        images = torch.cat([generator(chunk.to(device)).float().cpu() for chunk in z.split(256)])
    generator.train(was_training)
    return images


def _distill(student: nn.Module, images: torch.Tensor, soft: torch.Tensor, epochs: int, seed: int, device,
             progress: ProgressFn, task: str, batch_size: int = 64) -> None:
    torch.manual_seed(seed)
    rng = torch.Generator().manual_seed(seed)
    student.to(device).train()
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-3)
    for epoch in range(epochs):
        order = torch.randperm(len(images), generator=rng)
        for start in range(0, len(images), batch_size):
            rows = order[start:start + batch_size]
            log_probs = F.log_softmax(student(images[rows].to(device)), 1)
            loss = F.kl_div(log_probs, soft[rows].to(device), reduction="batchmean")
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        progress(ProgressEvent(task, epoch + 1, epochs, {"kl": float(loss.detach())}))
    student.eval().cpu()


attack = LommaAugAttack(
    "lomma-aug", "LOMMA model augmentation: the logit loss on the GMI protocol against the mean logits of the target "
                 "and 3 small CNNs distilled from it on 2048 GAN samples (20 epochs at the paper budget)",
    InversionConfig(steps=1500, lr=0.02, optimizer="sgd", momentum=0.9, lam=100.0, restarts=5, identity_loss="logit",
                    prior="critic"))
