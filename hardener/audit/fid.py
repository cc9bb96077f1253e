"""The real FID, when the user supplies torchvision Inception-v3 weights as a file (`--fid-weights FILE`).

hardener never downloads weights, so without that file only `feature_frechet_distance` (in the
evaluation model's feature space) is reported. The file is read like any untrusted model file:
safetensors, or a torch state_dict / checkpoint loaded without unpickling Python objects.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from torch import nn

from hardener.audit.metrics import feature_frechet_distance
from hardener.errors import InputError
from hardener.files import require_file
from hardener.loading import (extract_state_dict, load_strict, read_safetensors, sniff_format, strip_prefixes,
                         torch_load_checked)
from hardener.spec import IMAGENET_MEAN, IMAGENET_STD

INCEPTION_SIZE = 299
FEATURE_DIM = 2048
# The classifier heads never touch the 2048-d pool features: they are dropped from the file if present.
UNUSED_PREFIXES = ("fc.", "AuxLogits.")
FIX = ("pass torchvision's Inception-v3 ImageNet weights, e.g. saved with "
       "torch.save(torchvision.models.inception_v3(weights='DEFAULT').state_dict(), 'inception_v3.pt')")


def load_inception(weights: str | Path) -> nn.Module:
    """torchvision's Inception-v3 with the file's weights (strict on every feature layer), fc removed,
    in eval mode: it maps [0, 1] RGB at any size to (B, 2048) pool features via `inception_features`."""
    path = require_file(weights, "Inception-v3 weights file")
    if sniff_format(path) == "safetensors":
        state_dict, _ = read_safetensors(path)
    else:
        obj, _ = torch_load_checked(path, allow_pickle=False)
        state_dict, _ = extract_state_dict(obj, path)
    state_dict, _ = strip_prefixes(state_dict)
    state_dict = {k: v for k, v in state_dict.items() if not k.startswith(UNUSED_PREFIXES)}

    # transform_input=True as torchvision's pretrained Inception expects: it maps our ImageNet-normalised
    # input to the (x - 0.5) / 0.5 range the weights were trained on.
    model = torchvision.models.inception_v3(weights=None, aux_logits=True, init_weights=False, transform_input=True)
    model.fc = nn.Identity()
    model.AuxLogits = None  # only used in training mode; its weights are not needed
    model.aux_logits = False
    load_strict(model, state_dict, what="torchvision Inception-v3", where=str(path), fix=FIX)
    return model.eval().requires_grad_(False)


def inception_features(model: nn.Module, images: torch.Tensor, device: torch.device | str = "cpu", *,
                       batch_size: int = 32) -> torch.Tensor:
    """(N, 3, H, W) images in [0, 1] -> (N, 2048) float64 Inception pool features, on the CPU."""
    if batch_size < 1:
        raise InputError(f"batch size {batch_size} is below 1", fix="use a batch size of at least 1")
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise InputError(f"images have shape {shape}, expected (N, 3, H, W) in [0, 1]", fix="pass RGB image batches")
    if not images.is_floating_point() or not bool(torch.isfinite(images).all()):
        raise InputError("images must be finite floating-point values in [0, 1]", fix="convert uint8 images with /255")
    device = torch.device(device)
    model.eval().to(device)
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    out = []
    with torch.no_grad():
        for start in range(0, len(images), batch_size):
            x = images[start:start + batch_size].to(device, torch.float32)
            if tuple(x.shape[-2:]) != (INCEPTION_SIZE, INCEPTION_SIZE):
                x = nn.functional.interpolate(x, size=(INCEPTION_SIZE, INCEPTION_SIZE), mode="bilinear",
                                              antialias=True, align_corners=False)
            out.append(model((x - mean) / std).flatten(1).double().cpu())
    if not out:
        return torch.empty(0, FEATURE_DIM, dtype=torch.float64)
    return torch.cat(out)


def inception_fid(recon: torch.Tensor, real: torch.Tensor, weights: str | Path, device: torch.device | str = "cpu", *,
                  batch_size: int = 32) -> float:
    """FID between reconstructions and real images, both (N, 3, H, W) in [0, 1]; NaN with fewer than
    2 images on a side. Few images give a biased FID: compare values only at equal counts."""
    model = load_inception(weights)
    return feature_frechet_distance(inception_features(model, recon, device, batch_size=batch_size),
                                    inception_features(model, real, device, batch_size=batch_size))
