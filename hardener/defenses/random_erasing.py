"""Random erasing as a model-inversion defense (MIDRE; Tran, Nguyen et al., "Random Erasing vs. Model
Inversion: A Promising Defense or a False Hope?", TMLR 2025).

Most training images get one random rectangle of noise, at a random place and of a large share of the
image, so the model never sees a whole face: the features an inversion attack recovers then drift away
from the private faces' features while natural accuracy holds. Trains a new model from scratch with the
one training loop (`TrainConfig.random_erasing`, `erasing_area`).
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
class ErasingConfig:
    erase_prob: float = 0.8  # share of training images erased (high: the paper's point is partial erasure)
    erase_area: str = "0.2-0.5"  # share of the image one rectangle covers, drawn uniformly in this range

    def area(self) -> tuple[float, float]:
        try:
            low, high = (float(v) for v in self.erase_area.split("-"))
        except ValueError:
            raise InputError(f"--erase-area {self.erase_area!r} is not a range", where="--erase-area",
                             fix="give two shares of the image, e.g. --erase-area 0.2-0.5") from None
        return low, high

    def validate(self) -> None:
        if not (math.isfinite(self.erase_prob) and 0.0 < self.erase_prob <= 1.0):
            raise InputError(f"--erase-prob {self.erase_prob} is not a probability above 0", where="--erase-prob",
                             fix="e.g. --erase-prob 0.8")
        low, high = self.area()
        if not (math.isfinite(low) and math.isfinite(high) and 0.0 < low <= high <= 1.0):
            raise InputError(f"--erase-area {self.erase_area} is not a range of image shares", where="--erase-area",
                             fix="e.g. --erase-area 0.2-0.5")


def train_random_erasing(model: FaceModel, train: FaceDataset, config: ErasingConfig, train_config: TrainConfig, *,
                         val: FaceDataset | None = None, device: torch.device | str = "cpu",
                         checkpoint: Checkpoint | None = None, run_identity: dict | None = None,
                         progress: ProgressFn = no_progress) -> TrainResult:
    """Train `model` (fresh weights) in place on randomly erased images; returns it with its history."""
    config.validate()
    erasing = replace(train_config, random_erasing=config.erase_prob, erasing_area=config.area())
    result = train_classifier(model, train, val=val, config=erasing, device=device, checkpoint=checkpoint,
                              run_identity=run_identity, progress=progress)
    result.details = {"erased_share_of_images": config.erase_prob,
                      "erased_share_of_image": f"{config.area()[0]:g}-{config.area()[1]:g} (one noise rectangle)"}
    return result
