"""`--device auto|cpu|cuda|cuda:N` resolved once, with a clear error instead of a CUDA traceback, and
`evaluating`: a model borrowed for inference on a device and handed back as it was."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch

from hardener.errors import InputError


def resolve_device(name: str = "auto") -> torch.device:
    name = (name or "auto").strip().lower()
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cpu":
        return torch.device("cpu")
    if name == "cuda" or name.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise InputError(f"--device {name}: no CUDA device is available here", fix="use --device cpu or auto")
        index = name.partition(":")[2]
        if index and (not index.isdigit() or int(index) >= torch.cuda.device_count()):
            raise InputError(f"--device {name}: this machine has {torch.cuda.device_count()} CUDA device(s)",
                             fix="use cuda:0 .. cuda:N-1")
        return torch.device(name)
    raise InputError(f"unknown --device {name!r}", fix="use auto, cpu, cuda or cuda:N")


@contextmanager
def evaluating(model: torch.nn.Module, device: torch.device | str) -> Iterator[torch.nn.Module]:
    """The model in eval mode on `device`, without autograd, for the block; afterwards every module gets back
    its own mode (a model in training mode can hold eval-mode modules, e.g. frozen BatchNorm layers) and the
    model its device."""
    modes = [(module, module.training) for module in model.modules()]
    first = next(iter([*model.parameters(), *model.buffers()]), None)
    home = first.device if first is not None else torch.device("cpu")
    model.eval().to(device)
    try:
        with torch.no_grad():
            yield model
    finally:
        model.to(home)
        for module, training in modes:
            module.training = training
