"""torchvision ResNets (18/34/50/101/152, and ResNet-10: ResNet-18 with one block per stage) with the exact
torchvision state_dict layout."""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn
from torchvision.models import resnet

from hardener.arch import ArchitecturePlugin, Detection, FaceModel, head_classes
from hardener.spec import InputSpec

_BLOCKS = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3), "resnet50": (3, 4, 6, 3),
           "resnet101": (3, 4, 23, 3), "resnet152": (3, 8, 36, 3), "resnet10": (1, 1, 1, 1)}


def _torchvision_resnet(variant: str, num_classes: int) -> resnet.ResNet:
    """ResNet-10 is not a torchvision builder, but it is torchvision's ResNet class with basic blocks: half of
    ResNet-18's compute and 44 % of its parameters, for small private sets and fast runs."""
    if variant == "resnet10":
        return resnet.ResNet(resnet.BasicBlock, list(_BLOCKS[variant]), num_classes=num_classes)
    return getattr(resnet, variant)(weights=None, num_classes=num_classes)


class ResNetFace(FaceModel):
    """The torchvision network's modules as direct children, so its state_dict keys load as they are."""

    arch = "resnet"

    def __init__(self, variant: str, num_classes: int, spec: InputSpec) -> None:
        super().__init__(spec)
        self.variant = variant
        net = _torchvision_resnet(variant, num_classes)
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool", "fc"):
            setattr(self, name, getattr(net, name))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(self.preprocess(x)))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return torch.flatten(self.avgpool(x), 1)

    def head_layer(self) -> nn.Linear:
        return self.fc

    def set_head_layer(self, layer: nn.Linear) -> None:
        self.fc = layer

    def layer_groups(self) -> list[tuple[str, list[nn.Module]]]:
        return [("stem", [self.conv1, self.bn1]), ("layer1", [self.layer1]), ("layer2", [self.layer2]),
                ("layer3", [self.layer3]), ("layer4", [self.layer4]), ("head", [self.fc])]


class ResNetPlugin(ArchitecturePlugin):
    name = "resnet"
    variants = tuple(_BLOCKS)
    default_image_size = 224
    description = "torchvision ResNet; ImageNet normalisation by default"

    def input_spec(self, variant: str, image_size: int | None = None) -> InputSpec:
        return InputSpec(image_size=image_size or self.default_image_size)

    def build(self, variant: str, num_classes: int, image_size: int | None = None) -> FaceModel:
        variant = self.check_variant(variant)
        return ResNetFace(variant, num_classes, self.input_spec(variant, image_size))

    def detect(self, shapes: Mapping[str, tuple[int, ...]]) -> Detection | None:
        if not ("conv1.weight" in shapes and "fc.weight" in shapes and "layer4.0.conv1.weight" in shapes):
            return None
        bottleneck = "layer1.0.conv3.weight" in shapes
        blocks = tuple(1 + max((int(k.split(".")[1]) for k in shapes if k.startswith(f"layer{i}.")), default=-1)
                       for i in range(1, 5))
        for variant, layout in _BLOCKS.items():
            if layout == blocks and (variant in ("resnet50", "resnet101", "resnet152")) == bottleneck:
                return Detection(variant, head_classes(shapes, "fc.weight", "fc.weight"))
        return None


plugin = ResNetPlugin()
