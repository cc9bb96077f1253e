"""Catch a wrong input spec: score held-out labelled images under the declared spec and the common
alternatives. A model fed the wrong preprocessing still runs; only its accuracy gives it away.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace
from itertools import product

import torch

from hardener.arch import FaceModel
from hardener.data import FaceDataset, to_model_input
from hardener.errors import InputError
from hardener.spec import CHANNEL_ORDERS, NORMALIZE_PRESETS, InputSpec
from hardener.evaluate import accuracy

MIN_MARGIN = 0.05


@dataclass
class SpecScore:
    name: str
    spec: InputSpec
    accuracy: float


@dataclass
class SpecCheck:
    declared: SpecScore
    scores: list[SpecScore]  # best first
    images: int

    @property
    def best(self) -> SpecScore:
        return self.scores[0]

    @property
    def margin(self) -> float:
        """How much better an alternative must score to call the declared spec wrong."""
        p = max(min(self.declared.accuracy, 0.99), 0.01)
        return max(MIN_MARGIN, 3 * math.sqrt(2 * p * (1 - p) / max(self.images, 1)))

    @property
    def clearly_wrong(self) -> bool:
        return self.best.name != self.declared.name and self.best.accuracy - self.declared.accuracy > self.margin

    def verdict(self) -> str:
        if self.clearly_wrong:
            return (f"this model looks like it expects {self.best.name} ({self.best.accuracy:.1%} accuracy) rather "
                    f"than the {'declared' if self.declared.spec.declared else 'assumed'} {self.declared.name} "
                    f"({self.declared.accuracy:.1%})")
        return f"the {'declared' if self.declared.spec.declared else 'assumed'} spec {self.declared.name} fits ({self.declared.accuracy:.1%})"


def spec_name(spec: InputSpec) -> str:
    norm = next((k for k, (m, s) in NORMALIZE_PRESETS.items()
                 if _close(spec.mean, m) and _close(spec.std, s)), None)
    norm_text = {"imagenet": "ImageNet mean/std", "half": "(x - 0.5) / 0.5", "none": "no normalisation"}.get(
        norm, f"mean {','.join(f'{v:g}' for v in spec.mean)} std {','.join(f'{v:g}' for v in spec.std)}")
    return f"{spec.channel_order.upper()} {spec.input_range} with {norm_text}"


def check_spec(model: FaceModel, data: FaceDataset, *, batch_size: int = 128, max_images: int = 2000,
               device: str | torch.device = "cpu") -> SpecCheck:
    """Accuracy under the model's spec and each common alternative (the model is restored afterwards)."""
    if data.num_classes > model.num_classes:
        raise InputError(f"the data has labels up to {data.num_classes - 1} but the model has {model.num_classes} classes",
                         where=data.source, fix="pass held-out data labelled like the model's classes")
    declared = model.spec
    candidates = {spec_name(declared): declared}
    for (norm, (mean, std)), order in product(NORMALIZE_PRESETS.items(), CHANNEL_ORDERS):
        alt = replace(declared, mean=mean[: declared.channels], std=std[: declared.channels], channel_order=order)
        candidates.setdefault(spec_name(alt), alt)
    rows = torch.randperm(len(data.labels), generator=torch.Generator().manual_seed(0))[:max_images].numpy()
    x = to_model_input(data.images[rows], declared.image_size)  # a random subset: files are sorted by class
    y = torch.from_numpy(data.labels[rows])
    scores = []
    try:
        for name, spec in candidates.items():
            model.set_spec(spec)
            scores.append(SpecScore(name, spec, accuracy(model, x, y, device=device, batch_size=batch_size)))
    finally:
        model.set_spec(declared)
    scores.sort(key=lambda s: -s.accuracy)
    return SpecCheck(declared=next(s for s in scores if s.spec is declared), scores=scores, images=len(y))


def _close(a, b) -> bool:
    return len(a) <= len(b) and all(abs(x - y) < 1e-4 for x, y in zip(a, b))
