"""`hardener demo --quick` runs the whole pipeline end to end (sizes too small for meaningful numbers)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest

from typer.testing import CliRunner

from hardener.cli.app import app


@pytest.mark.slow  # ~14 s: trains three models and a GAN
def test_quick_demo_runs_every_step_and_writes_its_reports(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["demo", "--quick", "--out", str(tmp_path / "demo"), "--json"])
    assert result.exit_code == 0, result.output
    summary = json.loads((tmp_path / "demo" / "report.json").read_text())
    assert [row["measure"] for row in summary["table"]][:2] == ["held-out accuracy (all classes)",
                                                                 "held-out accuracy (protected classes)"]
    assert summary["gate_note"].startswith("Too few reconstructions")  # 2 classes x 2 restarts: no pass possible
    for part in ("target/model.safetensors", "eval/model.safetensors", "gan/gan.safetensors", "attack_before/grid.png",
                 "hardened/hardened.onnx", "verify/junit.xml"):
        assert (tmp_path / "demo" / part).exists(), part
