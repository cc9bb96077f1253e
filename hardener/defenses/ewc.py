"""Elastic weight consolidation: sum_i lambda2/2 * F_i * (theta_i - theta*_i)^2 with a diagonal Fisher.

It keeps a fine-tuned model close to its original weights where those weights matter for the original
task, which is how the decoy defense keeps natural accuracy.
"""
from __future__ import annotations

from typing import Iterable

import torch
import torch.nn.functional as F
from torch import nn


def diagonal_fisher(model: nn.Module, batches: Iterable[tuple[torch.Tensor, torch.Tensor]],
                    device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """Empirical diagonal Fisher: the mean squared gradient of the log-likelihood of the given labels.

    Gradients come from small mini-batches and are scaled by the batch size (a standard approximation
    of the per-example mean that costs one backward pass per batch). BatchNorm statistics are not
    touched: the model runs in eval mode.
    """
    was_training = model.training
    model.eval()
    params = {n: p for n, p in model.named_parameters() if p.requires_grad}
    fisher = {n: torch.zeros_like(p) for n, p in params.items()}
    seen = 0
    for x, y in batches:
        x, y = x.to(device), y.to(device)
        model.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        for n, p in params.items():
            if p.grad is not None:
                fisher[n] += p.grad.detach().pow(2) * len(y)
        seen += len(y)
    model.zero_grad(set_to_none=True)
    model.train(was_training)
    return {n: f / max(seen, 1) for n, f in fisher.items()}


class EWCPenalty:
    """Holds theta* and the Fisher; `penalty(model)` is zero at theta* and grows quadratically away from it."""

    def __init__(self, model: nn.Module, fisher: dict[str, torch.Tensor], lambda2: float = 1.0) -> None:
        self.anchor = {n: p.detach().clone() for n, p in model.named_parameters() if n in fisher}
        self.fisher = fisher
        self.lambda2 = lambda2

    def penalty(self, model: nn.Module) -> torch.Tensor:
        terms = [(self.fisher[n] * (p - self.anchor[n]).pow(2)).sum()
                 for n, p in model.named_parameters() if n in self.anchor]
        return self.lambda2 / 2 * torch.stack(terms).sum()
