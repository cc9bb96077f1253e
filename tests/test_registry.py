"""The registry isolates a broken third-party plugin and never imports torch to list names."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hardener import registry


def test_broken_plugin_is_reported_and_others_still_load(tmp_path: Path) -> None:
    """A real third-party install, not a patched registry: a distribution on the path whose entry point in
    hardener.architectures names a module that does not exist, seen by a fresh interpreter."""
    info = tmp_path / "broken_plugin-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-plugin\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[{registry.GROUP}]\nbroken = hardener_no_such_module:plugin\n")
    code = """import json
from hardener import registry
names = [p.name for p in registry.all_plugins()]
try:
    registry.get("broken")
    error = None
except registry.UnknownArchitectureError as exc:
    error = str(exc)
print(json.dumps({"names": names, "failures": registry.failures(), "error": error}))"""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env).stdout
    seen = json.loads(out)
    assert "resnet" in seen["names"] and "broken" not in seen["names"]
    assert "ModuleNotFoundError" in seen["failures"]["broken"]
    assert "failed to load" in seen["error"]


def test_cli_help_does_not_import_torch() -> None:
    code = "import sys, hardener.cli.app, hardener.registry; hardener.registry.names(); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
