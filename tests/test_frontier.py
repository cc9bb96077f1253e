"""benchmarks/frontier.py: the worst attack is taken over the attacks asked for, and a model not judged by all of
them is left out by name rather than dropped silently or judged on fewer attacks."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _report(path: Path, accuracy: float, hardened: dict[str, float]) -> Path:
    baseline = {name: 0.9 for name in hardened}
    path.write_text(json.dumps({
        "natural_accuracy": {"baseline": {"all": 0.8, "protected": 0.9},
                             "hardened": {"all": accuracy, "protected": accuracy}},
        "attacks": [{"preset": name, "baseline": {"top1": baseline[name], "top5": 1.0},
                     "hardened": {"top1": top1, "top5": top1}} for name, top1 in hardened.items()],
        "checks": [{"name": name, "passed": top1 <= 0.05} for name, top1 in hardened.items()]}))
    return path


def _frontier(*args: str) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "frontier.py"), *args],
                          capture_output=True, text=True, check=True)
    return done.stdout


def test_worst_is_over_the_attacks_asked_for_and_models_without_one_are_named(tmp_path):
    both = _report(tmp_path / "both.json", 0.78, {"plg-margin": 0.02, "plg-gan": 0.16})
    one = _report(tmp_path / "one.json", 0.79, {"plg-margin": 0.04})

    common = _frontier(f"both={both}", f"one={one}")
    assert "| both | 78.0% | 78.0% | 2.0% | 2.0% |" in common  # plg-gan is not in every log: left out of worst

    asked = _frontier(f"both={both}", f"one={one}", "--attacks", "plg-margin,plg-gan")
    assert "left out, not judged by every attack of --attacks: one" in asked
    assert "| both | 78.0% | 78.0% | 2.0% | 16.0% | 16.0% | 16.0% |" in asked
    assert "| one |" not in asked
