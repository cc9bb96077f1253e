"""Does the tests' `protected` fixture (tests/conftest.py: protect on the synthetic world, classes 1 and 4,
decoys chosen by protect, protect's own GAN) pass its tests' assertions, for a variant of protect's options, at
several protect seeds? What to run before changing protect's defaults or making the fixture cheaper: a
variant that passes at one seed only is tuned to that seed.

    python benchmarks/fixture.py --seeds 0 1                       # the defaults
    python benchmarks/fixture.py --seeds 0 1 --extra --alpha 1     # a variant

Prints one JSON line per seed: protect's wall time, gmi and plg-margin top-1 before and after (the attacks,
steps and seeds of test_protect_lowers_attack_accuracy_under_its_own_and_another_attack), held-out accuracy
(all and protected), the lure escape rates and log-odds of test_adaptive_attacker_is_lured_less_than_its_own_protocol,
whether each test's assertions hold, and what test_recipes measures on the default's side: lomma-logit's
top-1 and the evaluation model's confidence in the true identity, averaged over attack seeds 606-609
(its patent-recipe side is `benchmarks/recipe_spread.py`).
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", nargs="+", default=["0", "1"])
    parser.add_argument("--work", type=Path, default=ROOT / ".cache" / "benchmarks" / "fixture")
    parser.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="protect options of the variant")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    import torch
    from conftest import attack_top1, logit_attack_means, protect_args
    from worlds import load_world

    from hardener.attacks.adaptive_decoy import escape_rate, top_log_odds
    from hardener.attacks.presets import get_attack
    from hardener.data import load_dataset, to_model_input
    from hardener.evaluate import accuracy
    from hardener.gan import load_gan
    from hardener.loading import load_model

    world = load_world("synthetic")
    attacks = (("gmi", 200, 777), ("plg-margin", 100, 4242))  # the fixture test's
    baseline = load_model(world["target"]).model
    before = {p: attack_top1(world, baseline, p, steps, seed) for p, steps, seed in attacks}
    test = load_dataset(world["test"])
    x, y = to_model_input(test.images, 32), torch.from_numpy(test.labels)
    gan = load_gan(world["gan"])
    variant = "-".join(a.lstrip("-") for a in args.extra) or "defaults"
    for seed in args.seeds:
        out = args.work / world["builder"] / f"{variant}-seed{seed}"  # outputs of another world are not reused
        started = time.perf_counter()
        if not (out / "report.json").exists():
            command = [sys.executable, "-m", "hardener", *protect_args(world, out), *args.extra, "--seed", seed]
            run = subprocess.run(command, capture_output=True, text=True)
            if run.returncode != 0:
                sys.exit(run.stdout[-2000:] + run.stderr[-2000:])
        seconds = time.perf_counter() - started
        hardened = load_model(out / "hardened.safetensors").model
        after = {p: attack_top1(world, hardened, p, steps, s) for p, steps, s in attacks}
        kept, acc, acc0 = accuracy(hardened, x, y, classes=[1, 4]), accuracy(hardened, x, y), accuracy(baseline, x, y)
        rates, log_odds = {}, {}
        for preset in ("gmi", "plg-margin", "adaptive-decoy"):  # the escape test's attacks, seed, steps, restarts
            result = get_attack(preset).run(gan.generator, gan.critic, hardened, [1, 4], latent_dim=gan.latent_dim,
                                            seed=3, steps=150, restarts=8, public_classifier=gan.classifier)
            rates[preset] = escape_rate(result, gan.classifier)
            with torch.no_grad():
                log_odds[preset] = round(float(top_log_odds(gan.classifier.eval()(result.images)).mean()), 3)
        lomma = dict(zip(("top1", "confidence"), (round(v, 4) for v in logit_attack_means(world, hardened))))
        lowers = (before["gmi"] - after["gmi"] >= 0.125 and before["plg-margin"] >= after["plg-margin"]
                  and kept >= 0.4 and acc >= acc0 - 0.25)
        print(json.dumps({"variant": variant, "seed": seed, "protect_s": round(seconds), "before": before,
                          "after": after, "acc": round(acc, 3), "acc0": round(acc0, 3), "acc_protected": round(kept, 3),
                          "escape": rates, "log_odds": log_odds, "lomma_logit": lomma, "fixture_test_holds": lowers,
                          "escape_test_holds": rates["adaptive-decoy"] >= rates["plg-margin"]
                          and log_odds["adaptive-decoy"] <= log_odds["plg-margin"] - 1.0}), flush=True)


if __name__ == "__main__":
    main()
