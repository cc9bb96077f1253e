"""hardener: harden face-recognition models against model inversion before release.

Public names are re-exported lazily so `import hardener` (and `hardener --help`) stays free of torch.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "HardenerError": "hardener.errors",
    "InputError": "hardener.errors",
    "InputSpec": "hardener.spec",
    "FaceModel": "hardener.arch",
    "ArchitecturePlugin": "hardener.arch",
    "Detection": "hardener.arch",
    "LoadedModel": "hardener.loading",
    "load_model": "hardener.loading",
    "save_bundle": "hardener.loading",
    "build_model": "hardener.registry",
    "export_model": "hardener.export",
    "ExportResult": "hardener.export",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'hardener' has no attribute {name!r}")
