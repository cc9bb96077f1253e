"""The examples in examples/ run as written."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import numpy as np

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


@pytest.mark.slow  # ~9 s: a subprocess that imports torch and exports ONNX
def test_python_api_example_runs(tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(EXAMPLES / "python_api.py"), str(tmp_path)], capture_output=True,
                            text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})  # beside the other worker
    assert result.returncode == 0, result.stderr
    assert "resnet/resnet18: 10 classes" in result.stdout
    assert (tmp_path / "resnet18.onnx").exists() and (tmp_path / "resnet18.safetensors").exists()


@pytest.mark.slow  # ~70 s: eleven CLI processes, most of it importing torch
def test_privacy_defenses_example_runs(tmp_path: Path) -> None:
    hardener = Path(sys.executable).parent / "hardener"
    env = {**os.environ, "EPOCHS": "1", "IDS": "6", "VARIANT": "resnet10", "HARDENER": str(hardener),
           "OMP_NUM_THREADS": "1"}
    result = subprocess.run(["bash", str(EXAMPLES / "privacy_defenses.sh"), str(tmp_path / "out")], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    sizes = {part: len(np.load(tmp_path / "out" / "private" / f"{part}.npz")["labels"]) for part in ("train", "test")}
    assert sizes == {"train": 48, "test": 12}  # 3 private identities x 20 images, 80/20
    for model in ("target", "tl-dmi", "on-synthetic"):
        report = json.loads((tmp_path / "out" / "mia" / model / "report.json").read_text())
        assert (report["counts"]["members"], report["counts"]["non_members"]) == (48, 12)
    assert (tmp_path / "out" / "tl-dmi" / "hardened.onnx").exists()
