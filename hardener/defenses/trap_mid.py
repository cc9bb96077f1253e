"""Trap-MID: trapdoor-based model-inversion defense (Liu & Chen, "Trap-MID: Trapdoor-based Defense against
Model Inversion Attacks", NeurIPS 2024).

One trigger image k_t per class. Every clean image x is paired with a triggered copy x' = (1 - a) x + a k_t
(a = 0.02) labelled with a random target t (balanced over the classes in each batch, from a random first class), and the model learns
both: (1 - b) CE(F(aug x), y) + b CE(F(aug x'), t). An inversion attack looking for the input the model is
surest of for class t then finds the trapdoor (an image carrying k_t) instead of the private face. The
triggers are updated every step by a signed-gradient step (0.01) on BCE(D(x'), real) + CE(F(aug x'), t),
clamped to [0, 1], so they stay effective and look natural to a small discriminator D that learns clean =
real, triggered = fake. Augmentation is a random resized crop (80-100 % of the area), a flip and a small
rotation. Trains a new model from scratch; the triggers and D are NOT part of the released model (a PNG
of a few triggers is written beside it).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from hardener.arch import FaceModel
from hardener.attacks.augment import PARAMS, warp
from hardener.data import FaceDataset
from hardener.errors import InputError
from hardener.checkpoint import Checkpoint
from hardener.progress import ProgressFn, no_progress
from hardener.train import Objective, TrainConfig, TrainResult, train_classifier

CROP_AREA = (0.8, 1.0)
DISC_LR = 2e-4


@dataclass(frozen=True)
class TrapConfig:
    blend: float = 0.02  # a: the trigger's share of a triggered image
    trap_weight: float = 0.2  # b: the weight of the trapdoor loss
    trigger_step: float = 0.01  # signed-gradient step on the triggers, every training step

    def validate(self) -> None:
        if not (math.isfinite(self.blend) and 0 < self.blend < 1):
            raise InputError(f"--blend {self.blend} is not a share between 0 and 1", where="--blend", fix="e.g. --blend 0.02")
        if not (math.isfinite(self.trap_weight) and 0 <= self.trap_weight < 1):
            raise InputError(f"--trap-weight {self.trap_weight} is not in 0..1", where="--trap-weight",
                             fix="e.g. --trap-weight 0.2")
        if not (math.isfinite(self.trigger_step) and self.trigger_step >= 0):
            raise InputError("--trigger-step must be a non-negative number", where="--trigger-step",
                             fix="e.g. --trigger-step 0.01")


class Triggers(nn.Module):
    """The per-class trigger images, a buffer so checkpoints carry them and no optimizer touches them."""

    def __init__(self, classes: int, size: int, generator: torch.Generator) -> None:
        super().__init__()
        self.register_buffer("k", torch.rand(classes, 3, size, size, generator=generator))


def discriminator() -> nn.Module:
    """A small critic for any image size: two strided convolutions, global pooling, one logit."""
    return nn.Sequential(nn.Conv2d(3, 32, 4, 2, 1), nn.LeakyReLU(0.2), nn.Conv2d(32, 64, 4, 2, 1), nn.LeakyReLU(0.2),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 1))


class TrapObjective(Objective):
    def __init__(self, model: FaceModel, config: TrapConfig, seed: int, device: torch.device | str) -> None:
        self.config, self.classes = config, model.num_classes
        self.triggers = Triggers(model.num_classes, model.spec.image_size, torch.Generator().manual_seed(seed + 7)).to(device)
        torch.manual_seed(seed + 11)
        self.critic = discriminator().to(device)
        self.critic_optimizer = torch.optim.Adam(self.critic.parameters(), lr=DISC_LR, betas=(0.5, 0.999))
        self.sums, self.count = {"trap_acc": 0.0, "critic_loss": 0.0}, 0

    def state(self) -> dict:
        return {"trap_triggers": self.triggers, "trap_critic": self.critic, "trap_critic_optimizer": self.critic_optimizer}

    def identity(self) -> dict:
        return {f"trap_{k}": v for k, v in self.config.__dict__.items()}

    def _augment(self, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return warp(x, torch.rand(len(x), 1, PARAMS, generator=generator), crop_area=CROP_AREA)

    def loss(self, model, x, y, smoothing, generator):
        a, b = self.config.blend, self.config.trap_weight
        targets = trap_targets(len(x), self.classes, generator).to(x.device)
        # 1. triggers: natural to the critic and effective on the model (signed gradient, clamped to [0, 1])
        k = self.triggers.k.detach().requires_grad_(True)
        triggered = (1 - a) * x + a * k[targets]
        real = torch.ones(len(x), 1, device=x.device)
        trigger_loss = (F.binary_cross_entropy_with_logits(self.critic(triggered), real)
                        + F.cross_entropy(model(self._augment(triggered, generator)), targets))
        (grad,) = torch.autograd.grad(trigger_loss, k)
        self.triggers.k.copy_((k.detach() - self.config.trigger_step * grad.sign()).clamp(0, 1))
        # 2. the critic: clean images are real, triggered ones fake
        triggered = ((1 - a) * x + a * self.triggers.k[targets]).detach()
        critic_loss = (F.binary_cross_entropy_with_logits(self.critic(x), real)
                       + F.binary_cross_entropy_with_logits(self.critic(triggered), torch.zeros_like(real)))
        self.critic_optimizer.zero_grad(set_to_none=True)
        critic_loss.backward()
        self.critic_optimizer.step()
        # 3. the model: the task on clean images, the trapdoor on triggered ones
        logits = model(self._augment(x, generator))
        trap_logits = model(self._augment(triggered, generator))
        self.sums["trap_acc"] += float((trap_logits.argmax(1) == targets).float().mean())
        self.sums["critic_loss"] += float(critic_loss.detach())
        self.count += 1
        return (1 - b) * F.cross_entropy(logits, y) + b * F.cross_entropy(trap_logits, targets), logits

    def end_epoch(self, epoch: int) -> dict:
        row = {k: v / max(self.count, 1) for k, v in self.sums.items()}
        self.sums, self.count = {"trap_acc": 0.0, "critic_loss": 0.0}, 0
        return row


def train_trap_mid(model: FaceModel, train: FaceDataset, config: TrapConfig, train_config: TrainConfig, *,
                   val: FaceDataset | None = None, device: torch.device | str = "cpu",
                   checkpoint: Checkpoint | None = None, run_identity: dict | None = None,
                   progress: ProgressFn = no_progress) -> TrainResult:
    """Train `model` (fresh weights) in place with trapdoors; the triggers come back as an image only."""
    from hardener.report.images import tile

    config.validate()
    objective = TrapObjective(model, config, train_config.seed, device)
    schedule = replace(train_config, augment=False)  # Trap-MID's own augmentation replaces the loop's
    result = train_classifier(model, train, val=val, config=schedule, device=device, checkpoint=checkpoint,
                              objective=objective, run_identity=run_identity, progress=progress)
    last = result.history[-1] if result.history else {}
    result.details = {"triggers": model.num_classes, "triggers_in_released_model": False, "blend": config.blend,
                      "trap_weight": config.trap_weight, "trigger_step": config.trigger_step,
                      "final_trapdoor_accuracy": last.get("trap_acc")}
    result.images = {"triggers": tile(objective.triggers.k[:8].cpu())}
    return result


def trap_targets(n: int, classes: int, generator: torch.Generator) -> torch.Tensor:
    """Random trapdoor targets for a batch of n: consecutive classes from a random first one, shuffled, so each
    class is equally often a target within the batch and, with more classes than a batch holds, every class
    still gets its trapdoor over an epoch."""
    offset = int(torch.randint(classes, (1,), generator=generator))
    return ((torch.arange(n) + offset) % classes)[torch.randperm(n, generator=generator)]
