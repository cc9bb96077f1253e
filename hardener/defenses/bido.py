"""BiDO: bilateral dependency optimisation (Peng et al., "Bilateral Dependency Optimization: Defending
Against Model-inversion Attacks", KDD 2022), the HSIC variant.

Loss = CE + lambda_x * HSIC(x, f) - lambda_y * HSIC(y, f): the features f keep little dependence on the
input image (what an inversion attack recovers) and much on the label (what the task needs). HSIC is the
biased estimator trace(K H L H) / (n - 1)^2 with Gaussian kernels on the flattened images and on the
features (bandwidth sigma^2 times the dimension, as in the paper's code; `sigma 0` = median heuristic) and
a linear kernel on one-hot labels. The paper sums the terms over several hidden layers; we use ONE layer,
the features of `forward_features` (the embedding the head reads), so it works on any plugin architecture.
Trains a new model from scratch; the released model is the model itself (nothing to remove).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from hardener.arch import FaceModel
from hardener.data import FaceDataset
from hardener.errors import InputError
from hardener.checkpoint import Checkpoint
from hardener.progress import ProgressFn, no_progress
from hardener.train import Objective, TrainConfig, TrainResult, train_classifier


@dataclass(frozen=True)
class BiDOConfig:
    lambda_x: float = 0.05  # weight of HSIC(x, f), minimised
    lambda_y: float = 0.5  # weight of HSIC(y, f), maximised
    sigma: float = 5.0  # Gaussian kernel bandwidth per dimension; 0: the median heuristic

    def validate(self) -> None:
        if not all(math.isfinite(v) and v >= 0 for v in (self.lambda_x, self.lambda_y, self.sigma)):
            raise InputError("--lambda-x, --lambda-y and --hsic-sigma must be non-negative numbers",
                             fix="e.g. --lambda-x 0.05 --lambda-y 0.5")


def gaussian_gram(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """exp(-||a - b||^2 / (2 sigma^2 d)) over the rows of x flattened to d dimensions; sigma 0: the median
    of the pairwise squared distances replaces 2 sigma^2 d."""
    x = x.flatten(1).float()
    squared = torch.cdist(x, x).pow(2)
    scale = 2 * sigma ** 2 * x.shape[1] if sigma > 0 else squared.detach()[squared.detach() > 0].median().clamp_min(1e-12)
    return torch.exp(-squared / scale)


def hsic(k: torch.Tensor, l: torch.Tensor) -> torch.Tensor:
    """Biased HSIC estimate trace(K H L H) / (n - 1)^2 from two Gram matrices."""
    n = k.shape[0]
    h = torch.eye(n, device=k.device) - 1.0 / n
    return torch.trace(k @ h @ l @ h) / (n - 1) ** 2


class BiDOObjective(Objective):
    def __init__(self, config: BiDOConfig) -> None:
        self.config = config
        self.sums, self.count = {"hsic_x": 0.0, "hsic_y": 0.0}, 0

    def identity(self) -> dict:
        return {"bido_lambda_x": self.config.lambda_x, "bido_lambda_y": self.config.lambda_y,
                "bido_sigma": self.config.sigma}

    def loss(self, model, x, y, smoothing, generator):
        features = model.forward_features(x)
        logits = model.forward_head(features)
        k_f = gaussian_gram(features, self.config.sigma)
        dep_x = hsic(gaussian_gram(x, self.config.sigma), k_f)
        one_hot = F.one_hot(y, model.num_classes).float()
        dep_y = hsic(one_hot @ one_hot.T, k_f)
        self.sums["hsic_x"] += float(dep_x.detach())
        self.sums["hsic_y"] += float(dep_y.detach())
        self.count += 1
        loss = F.cross_entropy(logits, y) + self.config.lambda_x * dep_x - self.config.lambda_y * dep_y
        return loss, logits

    def end_epoch(self, epoch: int) -> dict:
        row = {k: v / max(self.count, 1) for k, v in self.sums.items()}
        self.sums, self.count = {"hsic_x": 0.0, "hsic_y": 0.0}, 0
        return row


def train_bido(model: FaceModel, train: FaceDataset, config: BiDOConfig, train_config: TrainConfig, *,
               val: FaceDataset | None = None, device: torch.device | str = "cpu",
               checkpoint: Checkpoint | None = None, run_identity: dict | None = None,
               progress: ProgressFn = no_progress) -> TrainResult:
    """Train `model` (fresh weights) in place with the HSIC bottleneck on its features."""
    config.validate()
    result = train_classifier(model, train, val=val, config=train_config, device=device, checkpoint=checkpoint,
                              objective=BiDOObjective(config), run_identity=run_identity, progress=progress)
    last = result.history[-1] if result.history else {}
    result.details = {"lambda_x": config.lambda_x, "lambda_y": config.lambda_y,
                      "kernel_sigma": config.sigma or "median heuristic", "layers": "forward_features only",
                      "final_hsic_x": last.get("hsic_x"), "final_hsic_y": last.get("hsic_y")}
    return result
