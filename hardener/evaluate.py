"""A model's logits and natural accuracy on images: what every job and defense uses (none of them trains)."""
from __future__ import annotations

import torch

from hardener.arch import FaceModel
from hardener.device import evaluating
from hardener.errors import InputError


def logits(model: torch.nn.Module, images: torch.Tensor, device: torch.device | str = "cpu",
           batch_size: int = 256) -> torch.Tensor:
    """The model's float logits on float [0, 1] images, in batches, on the CPU (eval mode and no autograd for the
    call; every module's mode and the device are restored)."""
    return _in_batches(model, model, images, device, batch_size)


def features(model: FaceModel, images: torch.Tensor, device: torch.device | str = "cpu",
             batch_size: int = 256) -> torch.Tensor:
    """The model's penultimate features (what its head reads) on float [0, 1] images, as `logits` gives logits."""
    return _in_batches(model, model.forward_features, images, device, batch_size)


def _in_batches(model: torch.nn.Module, forward, images: torch.Tensor, device, batch_size: int) -> torch.Tensor:
    with evaluating(model, device):
        return torch.cat([forward(images[i:i + batch_size].to(device)).float().cpu()
                          for i in range(0, len(images), batch_size)])


def accuracy(model: FaceModel, x: torch.Tensor, y: torch.Tensor, *, device: torch.device | str = "cpu",
             batch_size: int = 256, top: int = 1, classes: list[int] | None = None) -> float:
    """Top-k accuracy of `model` on float [0, 1] images, optionally only on images of `classes`
    (eval mode; every module's mode and the device are restored)."""
    if classes is not None:
        keep = torch.isin(y, torch.tensor(classes, dtype=y.dtype))
        x, y = x[keep], y[keep]
        if len(y) == 0:
            raise InputError(f"the data has no image of class {classes[0]}" + (" or the others" if len(classes) > 1 else ""),
                             fix="pass data that includes the protected identities")
    hits = 0
    with evaluating(model, device):
        for start in range(0, len(y), batch_size):
            logits = model(x[start:start + batch_size].to(device))
            best = logits.topk(min(top, logits.shape[1]), dim=1).indices.cpu()
            hits += int((best == y[start:start + batch_size, None]).any(1).sum())
    return hits / max(len(y), 1)


def held_out_accuracy(model: FaceModel, baseline: FaceModel | None, val, device: torch.device | str) -> dict | None:
    """The hardened model's (and the model it replaces') accuracy on held-out data, for a protect report."""
    from hardener.data import to_model_input

    if val is None:
        return None
    x, y = to_model_input(val.images, model.spec.image_size), torch.from_numpy(val.labels)
    natural = {"hardened": accuracy(model, x, y, device=device), "data": val.source}
    if baseline is not None:
        natural["baseline"] = accuracy(baseline, x, y, device=device)
    return natural
