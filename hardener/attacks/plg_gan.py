"""A GAN that knows the target: PLG-MI (Yuan et al., AAAI 2023, "Pseudo Label-Guided Model Inversion Attack
via Conditional Generative Adversarial Network"), the KED-MI family of attacks that shape the GAN with the
target before inverting it.

What is reproduced: (1) pseudo-labels: the target labels the attacker's public images, and for every target
class the k images it is most sure of (highest softmax probability of that class: PLG-MI's top-n selection,
as we read the paper) become that class's training set; (2) a class-conditional generator trained against a projection
discriminator (spectral norm, hinge loss) on those pseudo-labelled images, with PLG-MI's inversion loss on the
target (max-margin, on a random crop/flip/rotation of each generated image) added to the generator's loss;
(3) the attack: a latent search with the max-margin loss through the conditional generator fixed to the
class being attacked (Adam, lr 0.1, as the plg-margin preset).

What is simplified, honestly:
- Public images: verify and attack give an attack only the GAN bundle, so samples of the unconditional GAN
  (2048, seeded) stand in for PLG-MI's public data set, as lomma-aug's distillation set does. An image may
  be among the top k of several classes.
- The generator: not PLG-MI's ResNet generator with conditional BatchNorm trained from scratch, but the
  attacker's own GAN generator fine-tuned (BatchNorm statistics frozen) with a learned class embedding
  added to z, each class's embedding starting at the mean latent of its pseudo-labelled samples, so that it
  trains in seconds to minutes on a CPU at 32-64 px (100 steps at the `standard` budget: about 27 s on the
  tests' synthetic world, one thread).
- The discriminator is a small spectral-norm CNN (3 strided convolutions, width 32) with a projection
  term, trained from scratch next to the fine-tuned generator; it is thrown away after training.
- Lengths: `train_steps` generator steps at the `paper` budget (batch 32, one discriminator step each,
  Adam 1e-4 / 2e-4 with betas (0, 0.9), inversion weight 0.2, top 32 per class) are our choices, not
  PLG-MI's schedule (which we did not reproduce); other budgets scale the steps like the attack's steps.
- The latent search keeps the critic prior of every preset here (the attacker's unconditional critic,
  lambda 100 on the margin) and does not augment G(z); as we read the paper, PLG-MI's attack stage uses the
  inversion loss alone, on augmented images.

The conditional generator is trained once per target, GAN, budget and seed and kept in `caches`
(verify's and attack's --out/surrogates) under the target's and the generator's weight hashes. `run`
without `prepare` trains one at the `paper` length, uncached.

The adaptive variant against the decoy defense (a hardened target names a public "decoy" face as the
protected class, so pseudo-labelling would hand the decoy's images to the protected class): drop from
each class's top k the images the GAN bundle's public classifier confidently names (adaptive-decoy's lure
test; `drops_lures`), and add adaptive-decoy's penalty to the latent search: plg-gan-adaptive
(attacks/plg_gan_adaptive.py). The generator's training loss does not take the penalty.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import spectral_norm

from hardener.attacks.adaptive_decoy import lured, required_public_classifier
from hardener.attacks.augment import PARAMS, warp
from hardener.attacks.base import Attack, borrowed, weights_hash
from hardener.attacks.engine import InversionConfig, InversionResult
from hardener.attacks.losses import max_margin
from hardener.checkpoint import CacheFolder
from hardener.device import evaluating
from hardener.progress import ProgressEvent, ProgressFn, no_progress

TASK = "train PLG-MI conditional generator"


class ConditionalGenerator(nn.Module):
    """G(z, y) = generator(z + embedding[y]): the unconditional generator, fine-tuned, with one learned
    latent offset per class. `conditional = True` tells the inversion engine to pass each row's class."""

    conditional = True

    def __init__(self, generator: nn.Module, num_classes: int, latent_dim: int) -> None:
        super().__init__()
        self.generator = generator
        self.embedding = nn.Embedding(num_classes, latent_dim)

    def forward(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.generator(z + self.embedding(y))


class ProjectionCritic(nn.Module):
    """A spectral-norm CNN with a projection term (Miyato & Koyama, 2018): D(x, y) = psi(h) + <e_y, h>."""

    def __init__(self, num_classes: int, width: int = 32) -> None:
        super().__init__()
        layers, channels = [], 3
        for out in (width, 2 * width, 4 * width):  # stride 2 each: 32 px -> 4 x 4 features (8 px -> 1 x 1)
            layers += [spectral_norm(nn.Conv2d(channels, out, 4, 2, 1)), nn.LeakyReLU(0.1)]
            channels = out
        self.features = nn.Sequential(*layers)
        self.head = spectral_norm(nn.Linear(channels, 1))
        self.embedding = spectral_norm(nn.Embedding(num_classes, channels))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        h = self.features(x).sum((2, 3))
        return self.head(h).view(-1) + (self.embedding(y) * h).sum(1)


class PreparedTarget(nn.Module):
    """What `prepare` hands to `run`: the target (its forward is the target's) with the conditional
    generator trained on it alongside."""

    def __init__(self, target: nn.Module, generator: ConditionalGenerator) -> None:
        super().__init__()
        self.target = target
        self.generator = generator

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.target(x)


@dataclass(frozen=True)
class PlgGanAttack(Attack):
    pool_images: int = 2048  # GAN samples the target pseudo-labels (the public data's stand-in)
    top_k: int = 32  # pseudo-labelled images kept per class
    train_steps: int = 500  # generator steps at the paper budget; scaled like the steps by other budgets
    batch_size: int = 32
    inversion_weight: float = 0.2  # the max-margin loss on the target, against the hinge adversarial loss
    drops_lures: bool = False  # the first stage leaves out images the public classifier is sure of (lures)

    def run(self, generator: nn.Module, critic: nn.Module | None, target: nn.Module, classes: Sequence[int], *,
            latent_dim: int = 100, seed: int = 0, steps: int | None = None, restarts: int | None = None,
            device: torch.device | str = "cpu", progress: ProgressFn = no_progress,
            public_classifier: nn.Module | None = None) -> InversionResult:
        if not isinstance(target, PreparedTarget):
            target = self.prepare(target, generator, latent_dim, seed=seed, device=device, progress=progress,
                                  public_classifier=public_classifier)
        return super().run(target.generator, critic, target.target, classes, latent_dim=latent_dim, seed=seed,
                           steps=steps, restarts=restarts, device=device, progress=progress,
                           public_classifier=public_classifier)

    def prepare(self, target: nn.Module, generator: nn.Module, latent_dim: int, *, caches: CacheFolder | None = None,
                budget_fraction: float = 1.0, seed: int = 0, device: torch.device | str = "cpu",
                progress: ProgressFn = no_progress, public_classifier: nn.Module | None = None) -> PreparedTarget:
        steps = max(1, round(self.train_steps * budget_fraction))
        lures = self.lure_judge(public_classifier)
        key = (f"{weights_hash(target)[:16]}-g{weights_hash(generator)[:8]}-t{steps}-k{self.top_k}"
               f"-n{self.pool_images}-s{seed}" + (f"-p{weights_hash(lures)[:8]}" if lures is not None else ""))
        cache = caches.entry(f"plg_generator_{key}") if caches is not None else None
        num_classes = _num_classes(target, generator, latent_dim, device)
        with torch.random.fork_rng(devices=[]):  # seeded new weights without touching the caller's RNG
            torch.manual_seed(seed)
            conditional = ConditionalGenerator(copy.deepcopy(generator), num_classes, latent_dim)
            critic = ProjectionCritic(num_classes)
        state = cache.load() if cache is not None else None
        if state is not None:
            conditional.load_state_dict(state)
            return PreparedTarget(target, conditional.eval())
        z, images, rows = pseudo_labels(target, generator, latent_dim, self.pool_images, self.top_k, seed, device,
                                        lures=lures)
        with torch.no_grad():
            conditional.embedding.weight.copy_(z[rows].mean(1))
        labels = torch.arange(num_classes).repeat_interleave(rows.shape[1])
        self._train(conditional, critic, target, images[rows.reshape(-1)], labels, steps, seed, device, progress)
        if cache is not None:
            cache.save(conditional.state_dict())
        return PreparedTarget(target, conditional.eval())

    def lure_judge(self, public_classifier: nn.Module | None) -> nn.Module | None:
        """The public classifier that names lures for the first stage, or None where it keeps every image."""
        return required_public_classifier(public_classifier, self.name) if self.drops_lures else None

    def _train(self, conditional: ConditionalGenerator, critic: ProjectionCritic, target: nn.Module,
               real: torch.Tensor, labels: torch.Tensor, steps: int, seed: int, device, progress: ProgressFn) -> None:
        """Hinge-loss cGAN training; the generator's loss adds the target's max-margin loss on a random warp of
        each generated image. The generator's BatchNorm layers keep their statistics (eval mode throughout),
        so the generator behaves in training as the engine will run it."""
        device = torch.device(device)
        rng = torch.Generator().manual_seed(seed)
        num_classes, latent_dim = conditional.embedding.num_embeddings, conditional.embedding.embedding_dim
        conditional.to(device).eval().requires_grad_(True)
        critic.to(device).train()
        opt_g = torch.optim.Adam(conditional.parameters(), lr=1e-4, betas=(0.0, 0.9))
        opt_d = torch.optim.Adam(critic.parameters(), lr=2e-4, betas=(0.0, 0.9))
        batch = self.batch_size
        with borrowed(target, device) as frozen:
            for step in range(steps):
                picked = torch.randint(len(real), (batch,), generator=rng)
                x, y = real[picked].to(device), labels[picked].to(device)
                z = torch.randn(batch, latent_dim, generator=rng).clamp(-1.0, 1.0).to(device)
                with torch.no_grad():
                    fake = conditional(z, y)
                d_loss = F.relu(1.0 - critic(x, y)).mean() + F.relu(1.0 + critic(fake, y)).mean()
                opt_d.zero_grad(set_to_none=True)
                d_loss.backward()
                opt_d.step()

                y = torch.randint(num_classes, (batch,), generator=rng).to(device)
                z = torch.randn(batch, latent_dim, generator=rng).clamp(-1.0, 1.0).to(device)
                views = torch.rand(batch, 1, PARAMS, generator=rng)
                critic.requires_grad_(False)
                fake = conditional(z, y)
                adversarial = -critic(fake, y).mean()
                inversion = max_margin(frozen(warp(fake, views)).float(), y).mean()
                g_loss = adversarial + self.inversion_weight * inversion
                opt_g.zero_grad(set_to_none=True)
                g_loss.backward()
                opt_g.step()
                critic.requires_grad_(True)
                progress(ProgressEvent(TASK, step + 1, steps, {"d_loss": float(d_loss.detach()),
                                                               "g_loss": float(g_loss.detach()),
                                                               "margin": float(inversion.detach())}))
        conditional.eval().requires_grad_(False).cpu()
        critic.cpu()


def pseudo_labels(target: nn.Module, generator: nn.Module, latent_dim: int, count: int, k: int, seed: int,
                  device, lures: nn.Module | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PLG-MI's first stage: `count` seeded GAN images (z and images, on the CPU) and, per class of the target,
    the rows of the k it gives that class the highest softmax probability, (classes, k). With `lures` (a public
    classifier): the images it names one public class with more than LURE_CONFIDENCE are never picked while
    others are left (the decoy defense's lures are such images)."""
    z, images = gan_pool(generator, latent_dim, count, seed, device)
    with evaluating(target, device):
        probs = torch.cat([target(chunk.to(device)).float().softmax(1).cpu() for chunk in images.split(256)])
    if lures is not None:
        out = lured(lures, images, device)
        k = min(k, max(1, int((~out).sum())))
        probs[out] = -1.0  # below every probability: picked only when no other image is left
    return z, images, top_k_per_class(probs, k)


def top_k_per_class(probs: torch.Tensor, k: int) -> torch.Tensor:
    """(classes, k) row indices: for each class the k images the target gives that class's highest probability
    (PLG-MI's top-n selection); k is capped at the number of images."""
    k = min(k, probs.shape[0])
    return probs.topk(k, dim=0).indices.T.contiguous()


def _num_classes(target: nn.Module, generator: nn.Module, latent_dim: int, device) -> int:
    """The target's class count: its `num_classes` (FaceModel), else the width of its output on two samples."""
    count = getattr(target, "num_classes", None)
    if isinstance(count, int):
        return count
    _, images = gan_pool(generator, latent_dim, 2, 0, device)
    with evaluating(target, device):
        return int(target(images.to(device)).shape[1])


def gan_pool(generator: nn.Module, latent_dim: int, count: int, seed: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(z, G(z)) for `count` seeded latents clamped to [-1, 1] (the engine's range), on the CPU: the stand-in for
    PLG-MI's public images (also the decoy defense's `pseudo` leak seeker's)."""
    z = torch.randn(count, latent_dim, generator=torch.Generator().manual_seed(seed)).clamp(-1.0, 1.0)
    with evaluating(generator, device):
        images = torch.cat([generator(chunk.to(device)).float().cpu() for chunk in z.split(256)])
    return z, images


attack = PlgGanAttack(
    "plg-gan", "PLG-MI: a conditional generator fine-tuned from the GAN on 2048 samples pseudo-labelled by the target "
               "(top 32 per class; 500 steps at the paper budget, cached), then 600 Adam steps (lr 0.1) with the "
               "max-margin loss through it, critic prior, 5 restarts",
    InversionConfig(steps=600, lr=0.1, optimizer="adam", lam=100.0, restarts=5, identity_loss="margin", prior="critic"))
