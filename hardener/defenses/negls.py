"""Negative label smoothing (NegLS; Struppek et al., "Be Careful What You Smooth For", ICLR 2024).

A negative smoothing factor pushes the probability of every other class down, which flattens the
neighbourhood of a class that a model-inversion attack climbs; the paper trains plain cross-entropy first
and lets the negative factor in later (its code: none for the first half, ramped in over the third quarter),
since a negative factor from the start stops the model from learning at all. Trains a new model from
scratch with the one training loop (`TrainConfig.smoothing_schedule="negls"`).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch

from hardener.arch import FaceModel
from hardener.data import FaceDataset
from hardener.errors import InputError
from hardener.checkpoint import Checkpoint
from hardener.progress import ProgressFn, no_progress
from hardener.train import TrainConfig, TrainResult, train_classifier


@dataclass(frozen=True)
class NegLSConfig:
    smoothing: float = -0.05  # the factor after the warm-up; the paper's default for face models

    def validate(self) -> None:
        negative_factor(self.smoothing, "--smoothing")


def negative_factor(smoothing: float, flag: str) -> float:
    """`smoothing`, checked to be a NegLS factor (negative, at least -1); `flag` is the option that set it."""
    if not (math.isfinite(smoothing) and -1.0 <= smoothing < 0.0):
        raise InputError(f"{flag} {smoothing} is not a negative factor", where=flag,
                         fix=f"e.g. {flag} -0.05 (NegLS is negative label smoothing)")
    return smoothing


def train_negls(model: FaceModel, train: FaceDataset, config: NegLSConfig, train_config: TrainConfig, *,
                val: FaceDataset | None = None, device: torch.device | str = "cpu",
                checkpoint: Checkpoint | None = None, run_identity: dict | None = None,
                progress: ProgressFn = no_progress) -> TrainResult:
    """Train `model` (fresh weights) in place with the NegLS schedule; returns it with its history."""
    config.validate()
    schedule = replace(train_config, label_smoothing=config.smoothing, smoothing_schedule="negls")
    result = train_classifier(model, train, val=val, config=schedule, device=device, checkpoint=checkpoint,
                              run_identity=run_identity, progress=progress)
    result.details = {"smoothing_after_warm_up": config.smoothing,
                      "warm_up": f"none for epochs 1-{schedule.epochs // 2}, ramped in over the next "
                                 f"{max(1, schedule.epochs // 4)}"}
    return result
