"""Shared fixtures: small real model files in the layouts users bring (built once per session)."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision


@pytest.fixture(scope="session")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tv_resnet18() -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=7).eval()


@pytest.fixture(scope="session")
def resnet_state_dict_file(files: Path, tv_resnet18: torch.nn.Module) -> Path:
    path = files / "resnet18_state_dict.pt"
    torch.save(tv_resnet18.state_dict(), path)
    return path
