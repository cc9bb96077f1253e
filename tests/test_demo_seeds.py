"""benchmarks/demo_seeds.py: the figures it reads off a gate report and the paired means it prints."""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import demo_seeds  # noqa: E402


def _report(path: Path, accuracy: float, top1: dict[str, float], strangers: float) -> Path:
    path.write_text(json.dumps({
        "natural_accuracy": {"baseline": {"all": 0.9, "protected": 0.8},
                             "hardened": {"all": accuracy, "protected": accuracy - 0.1}},
        "attacks": [{"preset": name, "hardened": {"top1": rate, "rows": 74}} for name, rate in top1.items()],
        "strangers_named": {"share": {"baseline": 0.1, "hardened": strangers}}}))
    return path


def test_figures_and_paired_means(tmp_path: Path) -> None:
    default = demo_seeds.gate_figures(_report(tmp_path / "a.json", 0.85, {"gmi": 10 / 74, "plg-margin": 0.0,
                                                                          "lomma-logit": 37 / 74}, 0.5))
    variant = demo_seeds.gate_figures(_report(tmp_path / "b.json", 0.88, {"gmi": 0.0, "plg-margin": 3 / 74,
                                                                          "lomma-logit": 1 / 74}, 0.3))
    assert default["recovered"] == 47 and variant["recovered"] == 4
    assert (round(default["all"], 6), default["base_all"], default["base_strangers"]) == (85.0, 90.0, 10.0)
    lines = demo_seeds.table([("d0", default, variant), ("d1", variant, variant)], "decoy_choice=unlike", 0)
    assert "| d0 | default | 90.0 -> 85.0 % | 80.0 -> 75.0 % | 13.5 % | 0.0 % | 50.0 % | 47 | 10.0 -> 50.0 % |" in lines
    assert lines.splitlines()[-1] == ("| mean difference | variant - default | +1.5 | +1.5 | -6.8 | +2.0 | -24.3 | "
                                      "-21.5 | -10.0 |")
