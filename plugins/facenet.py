"""FaceNet (Inception-ResNet-v1) with the facenet-pytorch state_dict layout, so its VGGFace2 and
CASIA-WebFace checkpoints load key for key.
"""
from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from hardener.arch import ArchitecturePlugin, Detection, FaceModel, Preprocess, head_classes, require_keys
from hardener.spec import InputSpec

MIN_SIZE = 80  # the valid convolutions and stride-2 reductions need about 75 px; smaller inputs are upsampled
_SIGNATURE = ("conv2d_1a.conv.weight", "repeat_1.0.branch0.conv.weight", "repeat_3.0.conv2d.weight",
              "block8.conv2d.weight", "last_linear.weight", "last_bn.weight", "logits.weight")


class BasicConv2d(nn.Module):
    """Bias-free conv, BN (eps 1e-3, as TensorFlow-trained FaceNet used) and ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001, momentum=0.1)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(self.bn(self.conv(x)))


class Block35(nn.Module):
    """Inception-ResNet-A on 256 channels: three branches, 1x1 projection, scaled residual."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale
        self.branch0 = BasicConv2d(256, 32, 1)
        self.branch1 = nn.Sequential(BasicConv2d(256, 32, 1), BasicConv2d(32, 32, 3, padding=1))
        self.branch2 = nn.Sequential(BasicConv2d(256, 32, 1), BasicConv2d(32, 32, 3, padding=1), BasicConv2d(32, 32, 3, padding=1))
        self.conv2d = nn.Conv2d(96, 256, 1)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mixed = torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1)
        return self.relu(x + self.scale * self.conv2d(mixed))


class Block17(nn.Module):
    """Inception-ResNet-B on 896 channels with factorised 1x7 / 7x1 convolutions."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = scale
        self.branch0 = BasicConv2d(896, 128, 1)
        self.branch1 = nn.Sequential(BasicConv2d(896, 128, 1), BasicConv2d(128, 128, (1, 7), padding=(0, 3)),
                              BasicConv2d(128, 128, (7, 1), padding=(3, 0)))
        self.conv2d = nn.Conv2d(256, 896, 1)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mixed = torch.cat((self.branch0(x), self.branch1(x)), 1)
        return self.relu(x + self.scale * self.conv2d(mixed))


class Block8(nn.Module):
    """Inception-ResNet-C on 1792 channels; the last one skips the ReLU (noReLU)."""

    def __init__(self, scale: float = 1.0, noReLU: bool = False) -> None:  # noqa: N803 - upstream name
        super().__init__()
        self.scale = scale
        self.noReLU = noReLU
        self.branch0 = BasicConv2d(1792, 192, 1)
        self.branch1 = nn.Sequential(BasicConv2d(1792, 192, 1), BasicConv2d(192, 192, (1, 3), padding=(0, 1)),
                              BasicConv2d(192, 192, (3, 1), padding=(1, 0)))
        self.conv2d = nn.Conv2d(384, 1792, 1)
        if not noReLU:
            self.relu = nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x + self.scale * self.conv2d(torch.cat((self.branch0(x), self.branch1(x)), 1))
        return out if self.noReLU else self.relu(out)


class Mixed_6a(nn.Module):  # noqa: N801 - upstream name
    """Reduction-A: 256 -> 896 channels, spatial /2."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = BasicConv2d(256, 384, 3, stride=2)
        self.branch1 = nn.Sequential(BasicConv2d(256, 192, 1), BasicConv2d(192, 192, 3, padding=1), BasicConv2d(192, 256, 3, stride=2))
        self.branch2 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x)), 1)


class Mixed_7a(nn.Module):  # noqa: N801 - upstream name
    """Reduction-B: 896 -> 1792 channels, spatial /2."""

    def __init__(self) -> None:
        super().__init__()
        self.branch0 = nn.Sequential(BasicConv2d(896, 256, 1), BasicConv2d(256, 384, 3, stride=2))
        self.branch1 = nn.Sequential(BasicConv2d(896, 256, 1), BasicConv2d(256, 256, 3, stride=2))
        self.branch2 = nn.Sequential(BasicConv2d(896, 256, 1), BasicConv2d(256, 256, 3, padding=1), BasicConv2d(256, 256, 3, stride=2))
        self.branch3 = nn.MaxPool2d(3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.branch0(x), self.branch1(x), self.branch2(x), self.branch3(x)), 1)


class FaceNetFace(FaceModel):
    """InceptionResnetV1 with facenet-pytorch's attribute names; the embedding is last_bn's output
    (not L2-normalised, since the classifier reads it unnormalised).
    """

    arch = "facenet"

    def __init__(self, variant: str, num_classes: int, spec: InputSpec) -> None:
        super().__init__(spec)
        self.variant = variant
        if spec.image_size < MIN_SIZE:
            self.preprocess = Preprocess(spec, resize_to=MIN_SIZE)
        self.conv2d_1a = BasicConv2d(3, 32, 3, stride=2)
        self.conv2d_2a = BasicConv2d(32, 32, 3)
        self.conv2d_2b = BasicConv2d(32, 64, 3, padding=1)
        self.maxpool_3a = nn.MaxPool2d(3, stride=2)
        self.conv2d_3b = BasicConv2d(64, 80, 1)
        self.conv2d_4a = BasicConv2d(80, 192, 3)
        self.conv2d_4b = BasicConv2d(192, 256, 3, stride=2)
        self.repeat_1 = nn.Sequential(*(Block35(scale=0.17) for _ in range(5)))
        self.mixed_6a = Mixed_6a()
        self.repeat_2 = nn.Sequential(*(Block17(scale=0.10) for _ in range(10)))
        self.mixed_7a = Mixed_7a()
        self.repeat_3 = nn.Sequential(*(Block8(scale=0.20) for _ in range(5)))
        self.block8 = Block8(noReLU=True)
        self.avgpool_1a = nn.AdaptiveAvgPool2d(1)
        self.dropout = nn.Dropout(0.6)
        self.last_linear = nn.Linear(1792, 512, bias=False)
        self.last_bn = nn.BatchNorm1d(512, eps=0.001, momentum=0.1)
        self.logits = nn.Linear(512, num_classes)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.preprocess(x)
        for stage in (self.conv2d_1a, self.conv2d_2a, self.conv2d_2b, self.maxpool_3a, self.conv2d_3b,
                      self.conv2d_4a, self.conv2d_4b, self.repeat_1, self.mixed_6a, self.repeat_2,
                      self.mixed_7a, self.repeat_3, self.block8):
            x = stage(x)
        x = self.dropout(torch.flatten(self.avgpool_1a(x), 1))
        return self.last_bn(self.last_linear(x))

    def head_layer(self) -> nn.Linear:
        return self.logits

    def set_head_layer(self, layer: nn.Linear) -> None:
        self.logits = layer

    def layer_groups(self) -> list[tuple[str, list[nn.Module]]]:
        stem = [self.conv2d_1a, self.conv2d_2a, self.conv2d_2b, self.conv2d_3b, self.conv2d_4a, self.conv2d_4b]
        return [("stem", stem), ("repeat_1", [self.repeat_1]), ("mixed_6a", [self.mixed_6a]),
                ("repeat_2", [self.repeat_2]), ("mixed_7a", [self.mixed_7a]),
                ("repeat_3", [self.repeat_3, self.block8]), ("embedding", [self.last_linear, self.last_bn]),
                ("head", [self.logits])]


class FaceNetPlugin(ArchitecturePlugin):
    name = "facenet"
    variants = ("inception_resnet_v1",)
    default_image_size = 160
    description = "FaceNet InceptionResnetV1 (facenet-pytorch layout); fixed standardisation (x*255-127.5)/128"

    def input_spec(self, variant: str, image_size: int | None = None) -> InputSpec:
        return InputSpec(image_size=image_size or self.default_image_size, mean=(0.5, 0.5, 0.5),
                         std=(128 / 255, 128 / 255, 128 / 255))

    def build(self, variant: str, num_classes: int, image_size: int | None = None) -> FaceModel:
        variant = self.check_variant(variant)
        return FaceNetFace(variant, num_classes, self.input_spec(variant, image_size))

    def detect(self, shapes: Mapping[str, tuple[int, ...]]) -> Detection | None:
        if not require_keys(shapes, _SIGNATURE) or tuple(shapes["last_linear.weight"]) != (512, 1792):
            return None
        return Detection(self.variants[0], head_classes(shapes, "logits.weight", "logits.weight"))


plugin = FaceNetPlugin()
