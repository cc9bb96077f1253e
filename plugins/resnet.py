"""torchvision ResNets (18/34/50/101/152, and ResNet-10: ResNet-18 with one block per stage) with the exact
torchvision state_dict layout; `resnet10_w32` is ResNet-10 at half the width, for tests and quick runs."""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn
from torchvision.models import resnet

from hardener.arch import ArchitecturePlugin, Detection, FaceModel, head_classes
from hardener.spec import InputSpec

_BLOCKS = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3), "resnet50": (3, 4, 6, 3),
           "resnet101": (3, 4, 23, 3), "resnet152": (3, 8, 36, 3), "resnet10": (1, 1, 1, 1),
           "resnet10_w32": (1, 1, 1, 1)}
_STEM_WIDTH = {"resnet10_w32": 32}  # the first stage's channels where not torchvision's 64; each stage doubles


def _narrow_resnet10(width: int, num_classes: int) -> resnet.ResNet:
    """torchvision's ResNet-10 with `width` channels in the first stage instead of 64 (the same modules, keys
    and layer groups): at 32, a quarter of the parameters and under a third of the time per training step
    (measured: 0.04 s against 0.14 s, batch 96 at 32 px, one thread)."""
    net = resnet.ResNet(resnet.BasicBlock, [1, 1, 1, 1], num_classes=num_classes)
    net.inplanes = width
    net.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
    net.bn1 = nn.BatchNorm2d(width)
    for index in range(4):
        setattr(net, f"layer{index + 1}", net._make_layer(resnet.BasicBlock, width * 2 ** index, 1,
                                                          stride=1 if index == 0 else 2))
    net.fc = nn.Linear(width * 8, num_classes)
    for module in net.modules():  # torchvision's own initialisation, for the replaced modules
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.constant_(module.weight, 1)
            nn.init.constant_(module.bias, 0)
    return net


def _torchvision_resnet(variant: str, num_classes: int) -> resnet.ResNet:
    """ResNet-10 is not a torchvision builder, but it is torchvision's ResNet class with basic blocks: half of
    ResNet-18's compute and 44 % of its parameters, for small private sets and fast runs."""
    if variant in _STEM_WIDTH:
        return _narrow_resnet10(_STEM_WIDTH[variant], num_classes)
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
            if layout != blocks or shapes["conv1.weight"][0] != _STEM_WIDTH.get(variant, 64):
                continue
            if (variant in ("resnet50", "resnet101", "resnet152")) == bottleneck:
                return Detection(variant, head_classes(shapes, "fc.weight", "fc.weight"))
        return None


plugin = ResNetPlugin()
