"""The inversion engine across processes: `torchrun --nproc-per-node 2 -m hardener attack` (gloo on the CPU)
gives the report one process gives: the same top-1/top-5 and the same reconstruction kept per class. Rows
are seeded by (seed, class, restart), so which rank runs a class does not matter; the two runs batch rows
differently, so floats are compared with a tolerance (CPU kernels may round differently per batch shape)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ENV = {**os.environ, "OMP_NUM_THREADS": "1"}


def attack_args(world: dict, out: Path) -> list[str]:
    return ["attack", str(world["target"]), "--gan", str(world["gan"]), "--classes", "0-4", "--eval-model",
            str(world["eval"]), "--data", str(world["private"]), "--preset", "gmi", "--steps", "30", "--restarts", "2",
            "--seed", "5", "--device", "cpu", "--out", str(out), "--json"]


def test_two_gloo_ranks_give_the_one_process_report(mi_world: dict, tmp_path: Path) -> None:
    one = subprocess.run([sys.executable, "-m", "hardener", *attack_args(mi_world, tmp_path / "one")], env=ENV,
                         capture_output=True, text=True, timeout=600)
    assert one.returncode == 0, one.stderr
    two = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2",
                          "-m", "hardener", *attack_args(mi_world, tmp_path / "two")], env=ENV, capture_output=True,
                         text=True, timeout=600)
    assert two.returncode == 0, two.stderr
    a = json.loads((tmp_path / "one" / "report.json").read_text())["metrics"]
    b = json.loads((tmp_path / "two" / "report.json").read_text())["metrics"]
    for key in ("top1", "top5", "any_restart_top1", "rows"):
        assert a[key] == b[key], key
    assert a["per_class"].keys() == b["per_class"].keys()
    for c, values in a["per_class"].items():
        for name, value in values.items():
            if isinstance(value, float):
                assert b["per_class"][c][name] == pytest.approx(value, rel=1e-3, abs=1e-3), (c, name)
            else:
                assert b["per_class"][c][name] == value, (c, name)
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["grid.png", "report.json"]  # written once
