"""TL-DMI (Ho et al., CVPR 2024): transfer learning as a model-inversion defense.

Start from a model pretrained on PUBLIC identities, freeze its first layer groups (weights and BatchNorm
statistics), re-initialise the head for the private classes and train only the remaining groups on the
private data. Fewer layers then carry private information, which is what an inversion attack feeds on.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field
from itertools import chain

import torch

from hardener.arch import FaceModel
from hardener.data import FaceDataset
from hardener.errors import InputError
from hardener.checkpoint import Checkpoint
from hardener.progress import ProgressFn, no_progress
from hardener.train import TrainConfig, TrainResult, train_classifier


@dataclass
class TransferConfig:
    freeze: int  # how many layer groups, counted from the input, keep their pretrained values
    train: TrainConfig = field(default_factory=TrainConfig)


def freeze_depth(model: FaceModel, freeze: int | None, freeze_until: str | None,
                 trainable_by_default: int | None = None) -> int:
    """`--freeze K` or `--freeze-until GROUP` as a number of groups; the head can never be frozen. With
    `trainable_by_default` and neither option given: all but that many last groups (the head among them)."""
    names = [name for name, _ in model.layer_groups()]
    trainable_max = len(names) - 1
    if freeze is None and freeze_until is None and trainable_by_default is not None:
        return max(len(names) - trainable_by_default, 0)
    if (freeze is None) == (freeze_until is None):
        raise InputError("give exactly one of --freeze K and --freeze-until GROUP",
                         fix=f"e.g. --freeze {max(trainable_max - 2, 1)} or --freeze-until {names[max(trainable_max - 3, 0)]} "
                             f"(groups of {model.arch}/{model.variant}: {', '.join(names)})")
    if freeze_until is not None:
        if freeze_until not in names[:-1]:
            raise InputError(f"{model.arch}/{model.variant} has no freezable layer group {freeze_until!r}",
                             where="--freeze-until", fix=f"use one of: {', '.join(names[:-1])}")
        return names.index(freeze_until) + 1
    if not 0 <= freeze <= trainable_max:
        raise InputError(f"--freeze {freeze} is beyond the model's groups: {model.arch}/{model.variant} has "
                         f"{len(names)} ({', '.join(names)}) and the last, the head, must train",
                         where="--freeze", fix=f"use 0..{trainable_max}")
    return freeze


def frozen_parameter_names(model: FaceModel, freeze: int) -> list[str]:
    """Names (state_dict keys) of every parameter and buffer in the first `freeze` groups."""
    frozen = {id(m) for _, modules in model.layer_groups()[:freeze] for top in modules for m in top.modules()}
    return [f"{name}.{key}".lstrip(".") for name, module in model.named_modules() if id(module) in frozen
            for key, _ in chain(module.named_parameters(recurse=False), module.named_buffers(recurse=False))]


def transfer_learn(pretrained: FaceModel, train: FaceDataset, num_classes: int, config: TransferConfig, *,
                   val: FaceDataset | None = None, device: torch.device | str = "cpu",
                   checkpoint: Checkpoint | None = None, run_identity: dict | None = None,
                   progress: ProgressFn = no_progress) -> TrainResult:
    """A new private model from `pretrained` (left untouched): first `config.freeze` groups frozen, new head.
    `run_identity` (e.g. the pretrained file's hash) must match for a resuming `checkpoint` to continue."""
    model = copy.deepcopy(pretrained).cpu()
    freeze_depth(model, config.freeze, None)
    torch.manual_seed(config.train.seed)
    model.reset_classifier(num_classes)
    frozen = [module for _, modules in model.layer_groups()[:config.freeze] for module in modules]
    for module in frozen:
        module.requires_grad_(False)
    identity = {"freeze": config.freeze, **(run_identity or {})}
    result = train_classifier(model, train, val=val, config=config.train, device=device, checkpoint=checkpoint,
                              frozen=frozen, run_identity=identity, progress=progress)
    model.requires_grad_(True)  # the released model is an ordinary model again (frozen only while training)
    return result
