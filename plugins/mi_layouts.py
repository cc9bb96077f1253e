"""The 64 px target models that the model-inversion literature (GMI, KED-MI, PLG-MI) publishes:
VGG16-64, IR50 ("FaceNet64") and IR152, with their exact state_dict layouts so those checkpoints
load key for key. They take [0, 1] RGB with no mean/std.

Layout (after `module.` is stripped): `feature.*` is the backbone (torchvision vgg16_bn features,
or face.evoLVe's IR body as `feature.input_layer`/`feature.body`), then the outer class's own
`bn` (VGG) or `output_layer` (IR), then `fc_layer`.
"""
from __future__ import annotations

from math import isqrt
from typing import Mapping

import torch
from torch import nn
from torchvision.models import vgg

from hardener.arch import ArchitecturePlugin, Detection, FaceModel, head_classes, require_keys
from hardener.errors import InputError
from hardener.spec import InputSpec

_NO_NORM = {"mean": (0.0, 0.0, 0.0), "std": (1.0, 1.0, 1.0)}
_IR_CHANNELS = (64, 128, 256, 512)


def _mi_spec(image_size: int) -> InputSpec:
    return InputSpec(image_size=image_size, **_NO_NORM)


def _side(image_size: int, halvings: int, ceil: bool) -> int:
    """Spatial side after `halvings` stride-2 steps (IR's padded convs round up, VGG's pools down)."""
    for _ in range(halvings):
        image_size = (image_size + 1) // 2 if ceil else image_size // 2
    return image_size


def _size_from_flat(features: int, per_cell: int, scale: int) -> int | None:
    """Invert flatten(C x s x s): the canonical image size that gives `features`, or None."""
    side = isqrt(features // per_cell) if features % per_cell == 0 else 0
    return side * scale if side > 0 and per_cell * side * side == features else None


class VGG16_64(FaceModel):  # noqa: N801 - the literature's name
    """GMI/KED-MI `VGG16`: vgg16_bn features, flatten, BatchNorm1d, linear head."""

    arch = "vgg16_64"

    def __init__(self, variant: str, num_classes: int, spec: InputSpec) -> None:
        super().__init__(spec)
        self.variant = variant
        side = _side(spec.image_size, 5, ceil=False)
        if side < 1:
            raise InputError(f"VGG16-64 needs at least 32 px input, not {spec.image_size}", fix="use --image-size 64")
        # make_layers builds exactly vgg16_bn(...).features without allocating its 120M-parameter classifier.
        self.feature = vgg.make_layers(vgg.cfgs["D"], batch_norm=True)
        for m in self.feature.modules():  # torchvision's VGG init, which vgg16_bn() would have applied
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                nn.init.zeros_(m.bias)
        self.bn = nn.BatchNorm1d(512 * side * side)
        self.fc_layer = nn.Linear(512 * side * side, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(torch.flatten(self.feature(self.preprocess(x)), 1))

    def head_layer(self) -> nn.Linear:
        return self.fc_layer

    def set_head_layer(self, layer: nn.Linear) -> None:
        self.fc_layer = layer

    def layer_groups(self) -> list[tuple[str, list[nn.Module]]]:
        groups: list[tuple[str, list[nn.Module]]] = []
        block: list[nn.Module] = []
        for m in self.feature:
            block.append(m)
            if isinstance(m, nn.MaxPool2d):  # one group per resolution
                groups.append((f"block{len(groups) + 1}", block))
                block = []
        return groups + [("embedding", [self.bn]), ("head", [self.fc_layer])]


class BottleneckIR(nn.Module):
    """face.evoLVe `bottleneck_IR`: BN-conv-PReLU-conv-BN residual plus a (possibly strided) shortcut."""

    def __init__(self, cin: int, depth: int, stride: int) -> None:
        super().__init__()
        if cin == depth:
            self.shortcut_layer: nn.Module = nn.MaxPool2d(1, stride)
        else:
            self.shortcut_layer = nn.Sequential(nn.Conv2d(cin, depth, 1, stride, bias=False), nn.BatchNorm2d(depth))
        self.res_layer = nn.Sequential(
            nn.BatchNorm2d(cin), nn.Conv2d(cin, depth, 3, 1, 1, bias=False), nn.PReLU(depth),
            nn.Conv2d(depth, depth, 3, stride, 1, bias=False), nn.BatchNorm2d(depth))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.res_layer(x) + self.shortcut_layer(x)


class IRBackbone(nn.Module):
    """face.evoLVe `Backbone64`: input_layer and body only (its output layer lives in the outer class)."""

    def __init__(self, depths: tuple[int, ...]) -> None:
        super().__init__()
        self.input_layer = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.PReLU(64))
        units: list[nn.Module] = []
        cin = 64
        for depth, count in zip(_IR_CHANNELS, depths):
            units += [BottleneckIR(cin if i == 0 else depth, depth, 2 if i == 0 else 1) for i in range(count)]
            cin = depth
        self.body = nn.Sequential(*units)
        for m in self.modules():  # evoLVe's init, so training from scratch matches the published recipe
            if isinstance(m, nn.Conv2d):
                nn.init.xavier_uniform_(m.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(self.input_layer(x))


class IRFace(FaceModel):
    """GMI/KED-MI `FaceNet64` (IR50) and `IR152`: IR backbone, output_layer to 512-d, linear head."""

    arch = "ir"  # refined per instance to the plugin name, ir50 or ir152

    def __init__(self, variant: str, depths: tuple[int, ...], num_classes: int, spec: InputSpec) -> None:
        super().__init__(spec)
        self.arch = variant
        self.variant = variant
        self.depths = depths
        side = _side(spec.image_size, 4, ceil=True)
        self.feature = IRBackbone(depths)
        self.output_layer = nn.Sequential(nn.BatchNorm2d(512), nn.Dropout(), nn.Flatten(),
                                          nn.Linear(512 * side * side, 512), nn.BatchNorm1d(512))
        self.fc_layer = nn.Linear(512, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.output_layer(self.feature(self.preprocess(x)))

    def head_layer(self) -> nn.Linear:
        return self.fc_layer

    def set_head_layer(self, layer: nn.Linear) -> None:
        self.fc_layer = layer

    def layer_groups(self) -> list[tuple[str, list[nn.Module]]]:
        groups: list[tuple[str, list[nn.Module]]] = [("stem", [self.feature.input_layer])]
        start = 0
        for i, count in enumerate(self.depths):
            groups.append((f"stage{i + 1}", list(self.feature.body[start:start + count])))
            start += count
        return groups + [("embedding", [self.output_layer]), ("head", [self.fc_layer])]


def _ir_output_prefix(shapes: Mapping[str, tuple[int, ...]]) -> str | None:
    """Where the 512-d output layer is: the outer class (published), else a fork's copy under feature."""
    for prefix in ("output_layer", "feature.output_layer"):
        shape = shapes.get(f"{prefix}.3.weight")
        if shape is not None and len(shape) == 2 and shape[0] == 512:
            return prefix
    return None


class VGG16_64Plugin(ArchitecturePlugin):  # noqa: N801
    name = "vgg16_64"
    variants = ("vgg16_64",)
    default_image_size = 64
    description = "GMI/KED-MI/PLG-MI VGG16 target (vgg16_bn features + BatchNorm1d); [0,1] input, no mean/std"

    def input_spec(self, variant: str, image_size: int | None = None) -> InputSpec:
        return _mi_spec(image_size or self.default_image_size)

    def build(self, variant: str, num_classes: int, image_size: int | None = None) -> FaceModel:
        variant = self.check_variant(variant)
        return VGG16_64(variant, num_classes, self.input_spec(variant, image_size))

    def detect(self, shapes: Mapping[str, tuple[int, ...]]) -> Detection | None:
        # vgg16_bn features end at index 43 (last param at 41); vgg19_bn would reach 51.
        if not require_keys(shapes, ("feature.0.weight", "feature.41.running_var", "bn.weight", "fc_layer.weight")):
            return None
        if "feature.44.weight" in shapes or tuple(shapes["feature.0.weight"]) != (64, 3, 3, 3):
            return None
        size = _size_from_flat(int(shapes["bn.weight"][0]), 512, 32)
        if size is None:
            return None
        return Detection(self.variants[0], head_classes(shapes, "fc_layer.weight", "fc_layer.weight"), size)


class IRPlugin(ArchitecturePlugin):
    """One plugin per depth, so `ir50` and `ir152` each name exactly one published model."""

    default_image_size = 64

    def __init__(self, name: str, depths: tuple[int, ...], description: str) -> None:
        self.name = name
        self.variants = (name,)
        self.depths = depths
        self.description = description

    def input_spec(self, variant: str, image_size: int | None = None) -> InputSpec:
        return _mi_spec(image_size or self.default_image_size)

    def build(self, variant: str, num_classes: int, image_size: int | None = None) -> FaceModel:
        variant = self.check_variant(variant)
        return IRFace(variant, self.depths, num_classes, self.input_spec(variant, image_size))

    def detect(self, shapes: Mapping[str, tuple[int, ...]]) -> Detection | None:
        out = _ir_output_prefix(shapes)
        if out is None or not require_keys(shapes, ("feature.input_layer.0.weight", "feature.body.0.res_layer.1.weight",
                                                    "fc_layer.weight")):
            return None
        units = 1 + max((int(k.split(".")[2]) for k in shapes if k.split(".")[:2] == ["feature", "body"]
                         and k.split(".")[2].isdigit()), default=-1)
        size = _size_from_flat(int(shapes[f"{out}.3.weight"][1]), 512, 16)
        if units != sum(self.depths) or size is None:
            return None
        return Detection(self.name, head_classes(shapes, "fc_layer.weight", "fc_layer.weight"), size)

    def adapt_state_dict(self, state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Forks that also define an (unused) output_layer inside the backbone: drop it, or, when it is
        the only one, move it to where the model reads it.
        """
        nested = "feature.output_layer."
        if not any(k.startswith(nested) for k in state_dict):
            return state_dict
        if _ir_output_prefix({k: tuple(v.shape) for k, v in state_dict.items()}) == "output_layer":
            return {k: v for k, v in state_dict.items() if not k.startswith(nested)}
        return {(k[len("feature."):] if k.startswith(nested) else k): v for k, v in state_dict.items()}


vgg16_64 = VGG16_64Plugin()
ir50 = IRPlugin("ir50", (3, 4, 14, 3), "IR50, the GMI/KED-MI 'FaceNet64' evaluation model (face.evoLVe IR_50_64); "
                "[0,1] input, no mean/std")
ir152 = IRPlugin("ir152", (3, 8, 36, 3), "IR152, the GMI/KED-MI/PLG-MI IR152 target (face.evoLVe IR_152_64); "
                 "[0,1] input, no mean/std")
