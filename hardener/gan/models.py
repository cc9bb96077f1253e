"""The GMI-style generator and WGAN-GP critic (DGWGAN), in the model-inversion community's key layout.

At 64 px and width 64 the module tree is exactly the published one (`l1`, `l2_5`; `ls`), so their
checkpoints load unchanged. 32 px drops one up/downsampling stage; `width` scales every channel count
so tests and quick runs can use tiny networks.
"""
from __future__ import annotations

import torch
from torch import nn

from hardener.errors import InputError

SUPPORTED_SIZES = (32, 64)
SEED_SIZE = 4  # the generator's first feature map and the critic's last one are 4x4


def _stages(image_size: int) -> int:
    """Number of stride-2 blocks between the 4x4 map and the image, excluding the outermost layer."""
    if image_size not in SUPPORTED_SIZES:
        raise InputError(f"GAN image size {image_size} is not supported",
                         fix=f"use one of: {', '.join(map(str, SUPPORTED_SIZES))}")
    return (image_size // SEED_SIZE).bit_length() - 2  # 64 -> 3, 32 -> 2


def _check_dims(width: int, latent_dim: int) -> None:
    if width < 1 or latent_dim < 1:
        raise InputError(f"GAN width {width} and latent_dim {latent_dim} must both be positive",
                         fix="use e.g. width 64 and latent_dim 100 (the published sizes)")


def _dconv_bn_relu(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(
        nn.ConvTranspose2d(c_in, c_out, 5, 2, padding=2, output_padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    )


def _conv_ln_lrelu(c_in: int, c_out: int) -> nn.Sequential:
    # GMI stands in InstanceNorm for the LayerNorm of WGAN-GP: no batch coupling, which the penalty needs.
    return nn.Sequential(nn.Conv2d(c_in, c_out, 5, 2, 2), nn.InstanceNorm2d(c_out, affine=True), nn.LeakyReLU(0.2))


class Generator(nn.Module):
    """z (B, latent_dim) -> images (B, 3, S, S) in [0, 1] (sigmoid output, like GMI's face GAN)."""

    def __init__(self, image_size: int = 64, width: int = 64, latent_dim: int = 100) -> None:
        super().__init__()
        stages = _stages(image_size)
        _check_dims(width, latent_dim)
        self.image_size, self.width, self.latent_dim = image_size, width, latent_dim
        top = width * 8
        self.l1 = nn.Sequential(
            nn.Linear(latent_dim, top * SEED_SIZE * SEED_SIZE, bias=False),
            nn.BatchNorm1d(top * SEED_SIZE * SEED_SIZE),
            nn.ReLU(),
        )
        channels = [top // 2 ** i for i in range(stages + 1)]  # 64 px: 512, 256, 128, 64
        blocks: list[nn.Module] = [_dconv_bn_relu(a, b) for a, b in zip(channels, channels[1:])]
        blocks += [nn.ConvTranspose2d(channels[-1], 3, 5, 2, padding=2, output_padding=1), nn.Sigmoid()]
        self.l2_5 = nn.Sequential(*blocks)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        y = self.l1(z)
        y = y.view(y.size(0), -1, SEED_SIZE, SEED_SIZE)
        return self.l2_5(y)


class Critic(nn.Module):
    """images (B, 3, S, S) in [0, 1] -> one unbounded WGAN score per image (higher = more real)."""

    def __init__(self, image_size: int = 64, width: int = 64) -> None:
        super().__init__()
        stages = _stages(image_size)
        _check_dims(width, 1)
        self.image_size, self.width = image_size, width
        channels = [width * 2 ** i for i in range(stages + 1)]  # 64 px: 64, 128, 256, 512
        self.ls = nn.Sequential(
            nn.Conv2d(3, width, 5, 2, 2),
            nn.LeakyReLU(0.2),
            *[_conv_ln_lrelu(a, b) for a, b in zip(channels, channels[1:])],
            nn.Conv2d(channels[-1], 1, SEED_SIZE),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.ls(x).view(-1)
