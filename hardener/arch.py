"""The architecture contract: the FaceModel every plugin builds, and the plugin base class.

A FaceModel takes [0, 1] RGB images of any batch size, applies its InputSpec inside (so callers
never normalise), and splits into `forward_features` (the embedding) and `forward_head` (logits),
as timm does. `layer_groups()` lists the parameters from input to head so TL-DMI can freeze
"the first k groups".
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import torch
from torch import nn

from hardener.errors import ModelFormatError, UnknownArchitectureError
from hardener.spec import INPUT_RANGES, InputSpec


class Preprocess(nn.Module):
    """[0, 1] RGB in, the model's own input out: resize, channel order, range, mean/std.

    Buffers are non-persistent so state_dicts keep exactly the upstream layout.
    """

    def __init__(self, spec: InputSpec, *, resize_to: int | None = None) -> None:
        super().__init__()
        self.spec = spec
        self.resize_to = resize_to
        scale = INPUT_RANGES[spec.input_range]
        mean = torch.tensor(spec.mean, dtype=torch.float32).view(1, -1, 1, 1)
        std = torch.tensor(spec.std, dtype=torch.float32).view(1, -1, 1, 1)
        # (x * scale - mean) / std == x * (scale / std) - mean / std: one multiply-add.
        self.register_buffer("gain", scale / std, persistent=False)
        self.register_buffer("offset", -mean / std, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.spec.channels == 1:
            x = (0.299 * x[:, 0:1] + 0.587 * x[:, 1:2] + 0.114 * x[:, 2:3]) if x.shape[1] == 3 else x
        elif self.spec.channel_order == "bgr":
            x = x.flip(1)
        if self.resize_to is not None and x.shape[-1] != self.resize_to:
            x = nn.functional.interpolate(x, size=(self.resize_to, self.resize_to), mode="bilinear", align_corners=False)
        return x * self.gain + self.offset


class FaceModel(nn.Module):
    """Base of every model a plugin builds. Subclasses set `preprocess` and implement the split."""

    arch: str = ""
    variant: str = ""

    def __init__(self, spec: InputSpec) -> None:
        super().__init__()
        self.preprocess = Preprocess(spec)

    @property
    def spec(self) -> InputSpec:
        return self.preprocess.spec

    def set_spec(self, spec: InputSpec) -> None:
        """Swap the input spec (e.g. the user declared BGR); weights are untouched."""
        self.preprocess = Preprocess(spec, resize_to=self.preprocess.resize_to).to(self.preprocess.gain.device)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # (B, 3, H, W) in [0, 1] -> (B, D)
        raise NotImplementedError

    def forward_head(self, features: torch.Tensor) -> torch.Tensor:  # (B, D) -> (B, C)
        return self.head_layer()(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))

    def head_layer(self) -> nn.Linear:
        raise NotImplementedError

    def set_head_layer(self, layer: nn.Linear) -> None:
        raise NotImplementedError

    def reset_classifier(self, num_classes: int) -> None:
        old = self.head_layer()
        self.set_head_layer(nn.Linear(old.in_features, num_classes, bias=old.bias is not None).to(old.weight.device))

    def layer_groups(self) -> list[tuple[str, list[nn.Module]]]:
        raise NotImplementedError

    @property
    def num_features(self) -> int:
        return self.head_layer().in_features

    @property
    def num_classes(self) -> int:
        return self.head_layer().out_features


@dataclass(frozen=True)
class Detection:
    """What a plugin read off a state_dict's key layout and head shape."""

    variant: str
    num_classes: int
    image_size: int | None = None  # None: the layout does not fix it


class ArchitecturePlugin:
    """Base of an architecture plugin. Third parties subclass it and register an instance under the
    entry-point group `hardener.architectures`.
    """

    name: str = ""
    variants: tuple[str, ...] = ()
    default_image_size: int = 224
    description: str = ""

    def input_spec(self, variant: str, image_size: int | None = None) -> InputSpec:
        raise NotImplementedError

    def build(self, variant: str, num_classes: int, image_size: int | None = None) -> FaceModel:
        raise NotImplementedError

    def detect(self, shapes: Mapping[str, tuple[int, ...]]) -> Detection | None:
        """Return what this layout is, or None if the keys are not this architecture's."""
        return None

    def adapt_state_dict(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Map a foreign layout onto the built model's keys (identity by default)."""
        return state_dict

    def check_variant(self, variant: str | None) -> str:
        variant = variant or self.variants[0]
        if variant not in self.variants:
            raise UnknownArchitectureError(f"architecture {self.name!r} has no variant {variant!r}",
                                           fix=f"use --variant with one of: {', '.join(self.variants)}")
        return variant


def require_keys(shapes: Mapping[str, tuple[int, ...]], keys: Iterable[str]) -> bool:
    return all(k in shapes for k in keys)


def head_classes(shapes: Mapping[str, tuple[int, ...]], key: str, where: str) -> int:
    shape = shapes[key]
    if len(shape) != 2:
        raise ModelFormatError(f"the head weight {key!r} has shape {tuple(shape)}, expected 2 dims", where=where)
    return int(shape[0])
