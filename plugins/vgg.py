"""torchvision VGG-16 (plain and batch-norm) with the exact torchvision state_dict layout."""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn
from torchvision.models import vgg

from hardener.arch import ArchitecturePlugin, Detection, FaceModel, head_classes
from hardener.spec import InputSpec

# Index of the first module of each conv block inside `features` (after each max-pool).
_BLOCK_STARTS = {"vgg16": (0, 5, 10, 17, 24, 31), "vgg16_bn": (0, 7, 14, 24, 34, 44)}


class VGGFace(FaceModel):
    """Features are the 4096-d output of the penultimate classifier layer; the head is classifier[6]."""

    arch = "vgg"

    def __init__(self, variant: str, num_classes: int, spec: InputSpec) -> None:
        super().__init__(spec)
        self.variant = variant
        net = getattr(vgg, variant)(weights=None, num_classes=num_classes)
        self.features, self.avgpool, self.classifier = net.features, net.avgpool, net.classifier

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.avgpool(self.features(self.preprocess(x))), 1)
        return self.classifier[:6](x)

    def head_layer(self) -> nn.Linear:
        return self.classifier[6]

    def set_head_layer(self, layer: nn.Linear) -> None:
        self.classifier[6] = layer

    def layer_groups(self) -> list[tuple[str, list[nn.Module]]]:
        starts = _BLOCK_STARTS[self.variant]
        blocks = [(f"block{i + 1}", list(self.features[a:b])) for i, (a, b) in enumerate(zip(starts, starts[1:]))]
        return blocks + [("fc", list(self.classifier[:6])), ("head", [self.classifier[6]])]


class VGGPlugin(ArchitecturePlugin):
    name = "vgg"
    variants = ("vgg16", "vgg16_bn")
    default_image_size = 224
    description = "torchvision VGG-16 / VGG-16-BN; ImageNet normalisation by default"

    def input_spec(self, variant: str, image_size: int | None = None) -> InputSpec:
        return InputSpec(image_size=image_size or self.default_image_size)

    def build(self, variant: str, num_classes: int, image_size: int | None = None) -> FaceModel:
        variant = self.check_variant(variant)
        return VGGFace(variant, num_classes, self.input_spec(variant, image_size))

    def detect(self, shapes: Mapping[str, tuple[int, ...]]) -> Detection | None:
        if "classifier.6.weight" not in shapes or "features.0.weight" not in shapes:
            return None
        convs = sum(1 for k, s in shapes.items() if k.startswith("features.") and k.endswith(".weight") and len(s) == 4)
        if convs != 13:
            return None
        variant = "vgg16_bn" if "features.1.running_mean" in shapes else "vgg16"
        return Detection(variant, head_classes(shapes, "classifier.6.weight", "classifier.6.weight"))


plugin = VGGPlugin()
