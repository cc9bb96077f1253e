"""One error family. The CLI turns any HardenerError into one red line and exit code 2.

Every message says what went wrong, where (which file or option), and how to fix it, so a user
never needs the traceback to act on it.
"""
from __future__ import annotations


class HardenerError(Exception):
    """Base of every error the user can act on."""

    exit_code = 2

    def __init__(self, what: str, *, where: str | None = None, fix: str | None = None) -> None:
        self.what = what
        self.where = where
        self.fix = fix
        super().__init__(self.line())

    def line(self) -> str:
        parts = [f"{self.where}: {self.what}" if self.where else self.what]
        if self.fix:
            parts.append(self.fix)
        return " - ".join(parts)


class InputError(HardenerError):
    """A file or option the user gave is missing, unreadable or wrong."""


class ModelFormatError(InputError):
    """A model file is not in a layout hardener can read, or does not match the architecture."""


class PickleRefusedError(InputError):
    """A model file holds pickled Python objects, which could run code when loaded."""


class UnknownArchitectureError(InputError):
    """No registered plugin has that architecture name or variant."""


class ExportError(HardenerError):
    """An export failed its own checks (ONNX checker, parity with onnxruntime)."""
