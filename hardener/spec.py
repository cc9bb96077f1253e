"""The input spec: how a model expects its pixels. Kept torch-free so the CLI can import it cheaply.

Every hardener model takes [0, 1] RGB images and applies its own spec inside (channel order,
value range, mean/std); the spec is stored in bundle metadata so it travels with the weights.
"""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, replace

from hardener.errors import InputError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
NORMALIZE_PRESETS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "imagenet": (IMAGENET_MEAN, IMAGENET_STD),
    "half": ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    "none": ((0.0, 0.0, 0.0), (1.0, 1.0, 1.0)),
}
CHANNEL_ORDERS = ("rgb", "bgr")
INPUT_RANGES = {"0-1": 1.0, "0-255": 255.0}
MAX_IMAGE_SIZE = 1024  # face crops are 64-224 px; a larger stored or requested size is a corrupt file or a typo


@dataclass(frozen=True)
class InputSpec:
    """What the model's first layer expects. `mean`/`std` apply after scaling to `input_range`."""

    image_size: int
    channels: int = 3
    channel_order: str = "rgb"
    input_range: str = "0-1"
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD
    declared: bool = False  # False: assumed from the plugin's default, not stated by the user

    def __post_init__(self) -> None:
        validate_spec(self)

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "InputSpec":
        try:
            raw = json.loads(text)
            raw["mean"] = tuple(raw["mean"])
            raw["std"] = tuple(raw["std"])
            return cls(**raw)
        except (ValueError, KeyError, TypeError) as exc:
            raise InputError(f"the stored input spec is unreadable ({exc})", fix="re-import the model with `hardener import`") from exc

    def with_size(self, image_size: int) -> "InputSpec":
        return replace(self, image_size=image_size)

    def describe(self) -> str:
        origin = "declared" if self.declared else "assumed, plugin default"
        mean = ",".join(f"{m:g}" for m in self.mean)
        std = ",".join(f"{s:g}" for s in self.std)
        return (f"{self.image_size}px {self.channels}ch {self.channel_order.upper()} range {self.input_range} "
                f"mean {mean} std {std} ({origin})")


def validate_spec(spec: InputSpec) -> None:
    """Reject specs that would silently corrupt every number computed on the model."""
    if not isinstance(spec.image_size, int) or isinstance(spec.image_size, bool) or spec.image_size < 8:
        raise InputError(f"image size {spec.image_size!r} is too small", fix="use --image-size of at least 8 (32-224 are typical)")
    if spec.image_size > MAX_IMAGE_SIZE:
        raise InputError(f"image size {spec.image_size} is above the limit of {MAX_IMAGE_SIZE} px",
                         fix="use --image-size between 32 and 224 (face crops); a stored size this large means a corrupt file")
    if spec.channels not in (1, 3):
        raise InputError(f"{spec.channels} channels are not supported", fix="use 1 (grayscale) or 3 (colour)")
    if spec.channel_order not in CHANNEL_ORDERS:
        raise InputError(f"unknown channel order {spec.channel_order!r}", fix="use --channel-order rgb or bgr")
    if spec.input_range not in INPUT_RANGES:
        raise InputError(f"unknown input range {spec.input_range!r}", fix="use --input-range 0-1 or 0-255")
    for name, values in (("mean", spec.mean), ("std", spec.std)):
        if len(values) != spec.channels:
            raise InputError(f"--{name} has {len(values)} values but the model has {spec.channels} channels",
                             fix=f"give {spec.channels} comma-separated values")
        if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in values):
            raise InputError(f"--{name} {','.join(map(str, values))} has a value that is not a finite number",
                             fix=f"give finite numbers, e.g. --{name} 0.5,0.5,0.5")
    if any(s == 0 for s in spec.std):
        raise InputError("--std contains a zero", fix="every std value must be non-zero")


def parse_floats(text: str, option: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise InputError(f"{option} {text!r} is not a list of numbers", fix=f"write {option} 0.5,0.5,0.5") from None
    return values


def spec_changes(*, mean: str | None = None, std: str | None = None, normalize: str | None = None,
                 channel_order: str | None = None, input_range: str | None = None) -> dict:
    """The user's spec options as InputSpec field changes (empty when nothing was declared)."""
    changes: dict = {}
    if normalize is not None and (mean is not None or std is not None):
        raise InputError("--normalize cannot be combined with --mean/--std", fix="use one or the other")
    if (mean is None) != (std is None):
        raise InputError("--mean and --std go together", fix="give both, or use --normalize imagenet|half|none")
    if normalize is not None:
        if normalize not in NORMALIZE_PRESETS:
            raise InputError(f"unknown --normalize {normalize!r}", fix=f"use one of: {', '.join(NORMALIZE_PRESETS)}")
        changes["mean"], changes["std"] = NORMALIZE_PRESETS[normalize]
    if mean is not None:
        changes["mean"], changes["std"] = parse_floats(mean, "--mean"), parse_floats(std, "--std")
    if channel_order is not None:
        changes["channel_order"] = channel_order.lower()
    if input_range is not None:
        changes["input_range"] = input_range
    return changes


def apply_changes(base: InputSpec, changes: dict) -> InputSpec:
    """The base spec with the user's declarations; any declaration marks the whole spec declared."""
    return replace(base, **changes, declared=True) if changes else base
