"""`--device auto|cpu|cuda|cuda:N` resolved once, with a clear error instead of a CUDA traceback."""
from __future__ import annotations

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
