"""How far apart are protect's default (the margin recipe) and the patent's recipe under one attack, over many
attack seeds, on the tests' synthetic world? What to run before writing a test that says one beats the other:
a bar set from one attack seed is tuned to that seed.

    python benchmarks/recipe_spread.py --attack-seeds 8                      # lomma-logit, protect seed 0
    python benchmarks/recipe_spread.py --preset gmi --protect-seeds 0 1
    python benchmarks/recipe_spread.py --patent-rounds 1     # the patent as it states it: one inversion, one fine-tune

Both models are protected as the tests' `protected` fixture is (tests/conftest.py: classes 1 and 4, decoys
chosen by protect, protect's own GAN, the white-box case), the patent one with `--recipe patent`. Prints one
JSON line per (protect seed, attack seed): top-1 by the evaluation model and the evaluation model's mean confidence in the
true identity, for both recipes; then a summary line with the means and the worst-case gap.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FIRST_ATTACK_SEED = 606  # attack seeds protect never uses (protect's are small integers)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--preset", default="lomma-logit")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--restarts", type=int, default=8)
    parser.add_argument("--attack-seeds", type=int, default=8, help=f"how many, from {FIRST_ATTACK_SEED} up")
    parser.add_argument("--protect-seeds", nargs="+", default=["0"])
    parser.add_argument("--patent-rounds", default=None, help="--rounds of the patent-recipe protect (default: the fixture's)")
    parser.add_argument("--work", type=Path, default=ROOT / ".cache" / "benchmarks" / "recipe_spread")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import attack_scores, mean_confidence, protect_args
    from worlds import load_world

    from hardener.loading import load_model

    world = load_world("synthetic")
    gaps = []
    for protect_seed in args.protect_seeds:
        models = {}
        for recipe in ("margin", "patent"):
            extra = ["--rounds", args.patent_rounds] if recipe == "patent" and args.patent_rounds else []
            suffix = f"-rounds{args.patent_rounds}" if extra else ""
            out = args.work / world["builder"] / f"{recipe}-seed{protect_seed}{suffix}"
            if not (out / "report.json").exists():
                command = [sys.executable, "-m", "hardener", *protect_args(world, out), "--recipe", recipe,
                           "--seed", protect_seed, *extra]
                run = subprocess.run(command, capture_output=True, text=True)
                if run.returncode != 0:
                    sys.exit(run.stdout[-2000:] + run.stderr[-2000:])
            models[recipe] = load_model(out / "hardened.safetensors").model
        for attack_seed in range(FIRST_ATTACK_SEED, FIRST_ATTACK_SEED + args.attack_seeds):
            row: dict = {"protect_seed": protect_seed, "attack_seed": attack_seed}
            for recipe, model in models.items():
                metrics = attack_scores(world, model, args.preset, args.steps, attack_seed, args.restarts)
                row[recipe] = {"top1": round(metrics.top1, 4), "confidence": round(mean_confidence(metrics), 4)}
            row["gap"] = round(row["patent"]["top1"] - row["margin"]["top1"], 4)
            gaps.append(row["gap"])
            print(json.dumps(row), flush=True)
    print(json.dumps({"preset": args.preset, "steps": args.steps, "restarts": args.restarts,
                      "patent_rounds": args.patent_rounds, "runs": len(gaps),
                      "mean_gap": round(statistics.mean(gaps), 4), "min_gap": min(gaps), "max_gap": max(gaps)}))


if __name__ == "__main__":
    main()
