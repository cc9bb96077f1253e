"""Identity losses and latent priors for inversion, each per row (shape (B,)) so that a batched
inversion equals running every row alone: rows never share a reduction.
"""
from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F

IdentityLoss = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
Prior = Callable[[torch.Tensor], torch.Tensor]


def cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The patent's L_iden and GMI's: -log softmax(logits)[target]."""
    return F.cross_entropy(logits, target, reduction="none")


def logit_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """LOMMA-style: raise the target's raw logit; unlike CE it does not saturate once softmax is confident."""
    return -logits.gather(1, target[:, None]).squeeze(1)


def max_margin(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """PLG-MI-style: the target logit against the strongest other class."""
    target_logit = logits.gather(1, target[:, None]).squeeze(1)
    others = logits.scatter(1, target[:, None], float("-inf"))
    return others.max(1).values - target_logit


def poincare(logits: torch.Tensor, target: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """PPA-style Poincare distance between L1-normalised logits and an edge-shrunk one-hot target."""
    u = logits / logits.abs().sum(1, keepdim=True).clamp_min(1e-12)
    v = F.one_hot(target, logits.shape[1]).to(logits.dtype).clamp(0.0, 1.0 - eps)
    squared = (u - v).pow(2).sum(1)
    denominator = (1 - u.pow(2).sum(1)).clamp_min(eps) * (1 - v.pow(2).sum(1)).clamp_min(eps)
    return torch.acosh(1 + 2 * squared / denominator)


def log_sigmoid_prior(critic_score: torch.Tensor) -> torch.Tensor:
    """The patent's L_discr = -log D(G(z)) for a critic that outputs a logit: -log sigmoid(score)."""
    return F.softplus(-critic_score)


def critic_prior(critic_score: torch.Tensor) -> torch.Tensor:
    """GMI's form for a WGAN critic: -D(G(z))."""
    return -critic_score


IDENTITY_LOSSES: dict[str, IdentityLoss] = {"ce": cross_entropy, "logit": logit_loss, "margin": max_margin,
                                            "poincare": poincare}
PRIORS: dict[str, Prior] = {"log-sigmoid": log_sigmoid_prior, "critic": critic_prior}
