"""MID: mutual-information regularisation through a variational information bottleneck (Wang et al.,
"Improving Robustness to Model Inversion Attacks via Mutual Information Regularization", AAAI 2021).

During training the model's features f go through a stochastic bottleneck: mu = W_mu f, log sigma = W_s f,
z = mu + sigma * eps, logits = fc(z), and the loss is CE + beta * KL(N(mu, sigma^2) || N(0, I)), which
limits how much the prediction can tell about the input. At inference the bottleneck is its mean, so
logits = fc(mu) = (fc o W_mu)(f), a linear map of the features: we fold it into the model's own final
linear layer, and the released model is a plain FaceModel of its architecture (ONNX-exportable, loadable
by `load_model`) with no trace of the bottleneck. Trains a new model from scratch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from hardener.arch import FaceModel
from hardener.data import FaceDataset
from hardener.errors import InputError
from hardener.checkpoint import Checkpoint
from hardener.progress import ProgressFn, no_progress
from hardener.train import Objective, TrainConfig, TrainResult, train_classifier

LOG_SIGMA_RANGE = (-10.0, 5.0)  # keeps exp() finite early in training, far outside the useful range


@dataclass(frozen=True)
class MIDConfig:
    beta: float = 0.01  # KL weight; the paper sweeps 0.003-0.1
    bottleneck: int | None = None  # dimension of z; None: half the feature dimension (the paper's code)

    def validate(self) -> None:
        if not (math.isfinite(self.beta) and self.beta >= 0):
            raise InputError(f"--beta {self.beta} must be a non-negative number", where="--beta", fix="e.g. --beta 0.01")
        if self.bottleneck is not None and self.bottleneck < 1:
            raise InputError("--bottleneck must be at least 1", where="--bottleneck", fix="e.g. --bottleneck 256")


class Bottleneck(nn.Module):
    """The training-time head: features -> (mu, log sigma) -> z -> logits."""

    def __init__(self, features: int, size: int, classes: int) -> None:
        super().__init__()
        self.mu = nn.Linear(features, size)
        self.log_sigma = nn.Linear(features, size)
        self.fc = nn.Linear(size, classes)

    def forward(self, f: torch.Tensor, sample: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
        """(logits, KL to N(0, I) averaged over the batch); `sample=False` uses the mean, as at inference."""
        mu = self.mu(f)
        log_sigma = self.log_sigma(f).clamp(*LOG_SIGMA_RANGE)
        z = mu + log_sigma.exp() * torch.randn_like(mu) if sample else mu
        kl = 0.5 * (mu.pow(2) + (2 * log_sigma).exp() - 2 * log_sigma - 1).sum(1).mean()
        return self.fc(z), kl

    def folded(self) -> nn.Linear:
        """fc(mu(f)) as one linear layer: W = W_fc W_mu, b = W_fc b_mu + b_fc."""
        layer = nn.Linear(self.mu.in_features, self.fc.out_features)
        with torch.no_grad():
            layer.weight.copy_(self.fc.weight @ self.mu.weight)
            layer.bias.copy_(self.fc.weight @ self.mu.bias + self.fc.bias)
        return layer


class MIDObjective(Objective):
    def __init__(self, model: FaceModel, config: MIDConfig, device: torch.device | str) -> None:
        size = config.bottleneck or max(1, model.num_features // 2)
        self.bottleneck = Bottleneck(model.num_features, size, model.num_classes).to(device)
        self.config = config
        self.kl_sum, self.count = 0.0, 0

    def parameters(self) -> list[nn.Parameter]:
        return list(self.bottleneck.parameters())

    def state(self) -> dict:
        return {"mid_bottleneck": self.bottleneck}

    def identity(self) -> dict:
        return {"mid_beta": self.config.beta, "mid_bottleneck": self.bottleneck.fc.in_features}

    def loss(self, model, x, y, smoothing, generator):
        self.bottleneck.train()
        logits, kl = self.bottleneck(model.forward_features(x))
        self.kl_sum, self.count = self.kl_sum + float(kl.detach()), self.count + 1
        return F.cross_entropy(logits, y) + self.config.beta * kl, logits

    def end_epoch(self, epoch: int) -> dict:
        row = {"kl": self.kl_sum / max(self.count, 1)}
        self.kl_sum, self.count = 0.0, 0
        return row


def fold_bottleneck(model: FaceModel, bottleneck: Bottleneck) -> FaceModel:
    """Replace `model`'s final linear layer by the bottleneck's inference map; returns the model."""
    model.set_head_layer(bottleneck.folded().to(next(model.parameters()).device))
    return model


def train_mid(model: FaceModel, train: FaceDataset, config: MIDConfig, train_config: TrainConfig, *,
              val: FaceDataset | None = None, device: torch.device | str = "cpu",
              checkpoint: Checkpoint | None = None, run_identity: dict | None = None,
              progress: ProgressFn = no_progress) -> TrainResult:
    """Train `model` (fresh weights) through the bottleneck, then fold it into the model's head."""
    config.validate()
    objective = MIDObjective(model, config, device)
    # no `val` for the loop: its held-out accuracy would read the unused head; the job measures after the fold
    result = train_classifier(model, train, config=train_config, device=device, checkpoint=checkpoint,
                              objective=objective, run_identity=run_identity, progress=progress)
    fold_bottleneck(model, objective.bottleneck)
    result.details = {"beta": config.beta, "bottleneck": objective.bottleneck.fc.in_features,
                      "final_kl": result.history[-1].get("kl") if result.history else None,
                      "released_head": "fc(mu) folded into the model's final linear layer"}
    return result
