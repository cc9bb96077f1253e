"""The examples in examples/ run as written."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def test_python_api_example_runs(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(EXAMPLES / "python_api.py"), str(tmp_path)],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert "resnet/resnet18: 10 classes" in result.stdout
    assert (tmp_path / "resnet18.onnx").exists() and (tmp_path / "resnet18.safetensors").exists()
