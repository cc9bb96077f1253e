"""The registry isolates a broken third-party plugin and never imports torch to list names."""
from __future__ import annotations

import subprocess
import sys
from importlib.metadata import EntryPoint

import pytest

from hardener import registry


def test_broken_plugin_is_reported_and_others_still_load(monkeypatch: pytest.MonkeyPatch) -> None:
    real = registry._entry_points()
    broken = EntryPoint(name="broken", value="hardener_no_such_module:plugin", group=registry.GROUP)
    monkeypatch.setattr(registry, "_entry_points", lambda: {**real, "broken": broken})
    monkeypatch.setattr(registry, "_failed", {})
    names = [p.name for p in registry.all_plugins()]
    assert "resnet" in names and "broken" not in names
    assert "ModuleNotFoundError" in registry.failures()["broken"]
    with pytest.raises(registry.UnknownArchitectureError, match="failed to load"):
        registry.get("broken")


def test_cli_help_does_not_import_torch() -> None:
    code = "import sys, hardener.cli.app, hardener.registry; hardener.registry.names(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
