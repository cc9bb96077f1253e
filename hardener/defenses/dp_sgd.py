"""DP-SGD (Abadi et al., CCS 2016) with opacus, the field's differential-privacy library: per-example
gradients clipped to `max_grad_norm`, Gaussian noise of `noise_multiplier * max_grad_norm` added, batches
drawn by Poisson sampling (rate batch_size / N), and (epsilon, delta) from opacus's RDP accountant.

BatchNorm mixes the examples of a batch, so it has no per-example gradient and is not DP-compatible. Our
choice: DP *fine-tuning* from a model of PUBLIC identities (--pretrained), as TL-DMI starts: a new head for
the private classes, only the last `trainable_groups` layer groups train (default 1: the head), and every
BatchNorm layer, in those groups too, stays frozen with the public model's statistics (in eval mode it is a
fixed per-channel affine map, so per-example gradients are exact). The released model is a plain plugin
FaceModel. The guarantee covers the private training data's influence on the released weights only if
--pretrained never saw the private data.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import torch
from torch import nn

from hardener.arch import FaceModel
from hardener.data import FaceDataset
from hardener.errors import InputError
from hardener.checkpoint import Checkpoint
from hardener.progress import ProgressFn, no_progress
from hardener.train import Objective, TrainConfig, TrainResult, train_classifier

BATCH_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


@dataclass(frozen=True)
class DPConfig:
    noise_multiplier: float = 1.0  # noise std as a multiple of the clipping norm
    max_grad_norm: float = 1.0  # per-example gradient clipping norm
    delta: float | None = None  # None: 1 / number of training images
    trainable_groups: int = 1  # last layer groups trained with DP (1: the head only)

    def validate(self) -> None:
        if not (math.isfinite(self.noise_multiplier) and self.noise_multiplier > 0):
            raise InputError("--noise-multiplier must be above 0", where="--noise-multiplier", fix="e.g. --noise-multiplier 1.0")
        if not (math.isfinite(self.max_grad_norm) and self.max_grad_norm > 0):
            raise InputError("--max-grad-norm must be above 0", where="--max-grad-norm", fix="e.g. --max-grad-norm 1.0")
        if self.delta is not None and not (math.isfinite(self.delta) and 0 < self.delta < 1):
            raise InputError(f"--delta {self.delta} is not a probability", where="--delta", fix="e.g. --delta 1e-5")
        if self.trainable_groups < 1:
            raise InputError("--trainable-groups must be at least 1 (the head)", where="--trainable-groups",
                             fix="e.g. --trainable-groups 1")


class DPObjective(Objective):
    """Poisson-sampled batches, opacus's per-example clipping and noise on the optimizer, the accountant."""

    def __init__(self, model: FaceModel, config: DPConfig, samples: int, batch_size: int, delta: float) -> None:
        from opacus.accountants import RDPAccountant
        from opacus.grad_sample import GradSampleModule

        self.config, self.delta = config, delta
        self.sample_rate = min(1.0, batch_size / samples)
        self.steps = max(1, round(1 / self.sample_rate))
        self.expected_batch = batch_size
        self.wrapped = GradSampleModule(model, loss_reduction="mean")
        self.accountant = RDPAccountant()

    def state(self) -> dict:
        return {"dp_accountant": self.accountant}

    def identity(self) -> dict:
        return {f"dp_{k}": v for k, v in self.config.__dict__.items()} | {"dp_delta_used": self.delta}

    def wrap_optimizer(self, optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
        from opacus.optimizers import DPOptimizer

        dp = DPOptimizer(optimizer, noise_multiplier=self.config.noise_multiplier, max_grad_norm=self.config.max_grad_norm,
                         expected_batch_size=self.expected_batch, loss_reduction="mean")
        dp.attach_step_hook(self.accountant.get_optimizer_hook_fn(sample_rate=self.sample_rate))
        return dp

    def batches(self, order: torch.Tensor, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
        """Poisson sampling, the accountant's assumption: each image joins each step with probability q."""
        return [order[torch.rand(len(order), generator=generator) < self.sample_rate] for _ in range(self.steps)]

    def loss(self, model, x, y, smoothing, generator):
        logits = self.wrapped(x)
        return torch.nn.functional.cross_entropy(logits, y), logits

    def epsilon(self) -> float:
        return float(self.accountant.get_epsilon(delta=self.delta)) if len(self.accountant) else 0.0

    def end_epoch(self, epoch: int) -> dict:
        return {"epsilon": self.epsilon()}

    def release(self) -> None:
        """Remove opacus's hooks and per-example gradients: the model is an ordinary model again."""
        self.wrapped._close()


def train_dp_sgd(model: FaceModel, train: FaceDataset, config: DPConfig, train_config: TrainConfig, *,
                 val: FaceDataset | None = None, device: torch.device | str = "cpu",
                 checkpoint: Checkpoint | None = None, run_identity: dict | None = None,
                 progress: ProgressFn = no_progress) -> TrainResult:
    """DP fine-tuning of `model`'s last `trainable_groups` groups (BatchNorm frozen); returns it with epsilon."""
    config.validate()
    groups = model.layer_groups()
    if config.trainable_groups > len(groups):
        raise InputError(f"--trainable-groups {config.trainable_groups} is more than the model's {len(groups)} groups",
                         where="--trainable-groups", fix=f"use 1..{len(groups)}")
    trained = [module for _, modules in groups[len(groups) - config.trainable_groups:] for module in modules]
    norms = [m for top in trained for m in top.modules() if isinstance(m, BATCH_NORMS)]
    frozen = [module for _, modules in groups[:len(groups) - config.trainable_groups] for module in modules] + norms
    model.requires_grad_(False)
    for module in trained:
        module.requires_grad_(True)
    for norm in norms:
        norm.requires_grad_(False)
    delta = config.delta if config.delta is not None else 1.0 / len(train)
    objective = DPObjective(model, config, len(train), train_config.batch_size, delta)
    try:
        # opacus hooks the first trained layer, whose input needs no gradient (all before it is frozen): expected
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Full backward hook is firing", category=UserWarning)
            result = train_classifier(model, train, val=val, config=train_config, device=device,
                                      checkpoint=checkpoint, frozen=frozen, objective=objective,
                                      run_identity=run_identity, progress=progress)
    finally:
        objective.release()
    model.requires_grad_(True)
    result.details = {"epsilon": objective.epsilon(), "delta": delta, "noise_multiplier": config.noise_multiplier,
                      "max_grad_norm": config.max_grad_norm, "sample_rate": objective.sample_rate,
                      "accountant": "opacus RDP",
                      "steps": sum(steps for *_, steps in objective.accountant.history),
                      "trained_with_dp": [name for name, _ in groups[len(groups) - config.trainable_groups:]],
                      "frozen": "earlier groups and every BatchNorm layer (the --pretrained model's values)"}
    return result
