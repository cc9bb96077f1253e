"""Session 45: where plg-gan's reconstructions of each protected class land on a model, by name.

plg-gan as the judge runs it (lfw-s42/judge.py: verify's suite, standard budget, 15 restarts, seed 0, the five protected
classes) on MODEL (a model file, e.g. the undefended target), with GAN (default the attacker's); per class, of 15: how
many the evaluation model names the person, and the public classes the public classifier names them most often.
    python benchmarks/results/lfw-s45/landing.py MODEL OUT.json [GAN]      # from the repository root
"""
import json
import sys
import time
from collections import Counter
from pathlib import Path

import torch

from hardener.audit.metrics import attack_metrics
from hardener.checkpoint import CacheFolder
from hardener.jobs.suite import load_suite
from hardener.loading import load_model

B = Path(".cache/benchmarks")
PROTECT = ["6", "18", "27", "31", "67"]


def main() -> None:
    model_path, out = Path(sys.argv[1]), Path(sys.argv[2])
    gan_path = Path(sys.argv[3]) if len(sys.argv) > 3 else B / "gan-attacker" / "gan.safetensors"
    model = load_model(model_path)
    suite = load_suite(presets=("plg-gan",), budget="standard", steps=None, restarts=15, seed=0, gan=gan_path,
                       critic=None, eval_model=B / "eval" / "model.safetensors",
                       data=str(B / "splits" / "private" / "test.npz"), target=model,
                       spec_model=load_model(B / "target" / "model.safetensors"), protect=PROTECT, device="cpu")
    attack, gan = suite.attacks[0], suite.gan
    seed = suite.seed_for(attack)
    steps, restarts = suite.budget.scale(attack, suite.steps, suite.restarts)
    started = time.perf_counter()
    inverted = attack.prepare(model.model, gan.generator, gan.latent_dim,
                              caches=CacheFolder(out.parent / (out.stem + "-cache")),
                              budget_fraction=suite.budget.steps_fraction, seed=seed, device=suite.device,
                              public_classifier=gan.classifier)
    result = attack.run(gan.generator, gan.critic, inverted, suite.protect, latent_dim=gan.latent_dim, seed=seed,
                        steps=steps, restarts=restarts, device=suite.device, public_classifier=gan.classifier)
    metrics = attack_metrics(result, suite.evaluator.model, suite.data, device=suite.device)
    with torch.no_grad():
        named = gan.classifier.eval()(result.images).argmax(1)
    rows = {}
    for c in suite.protect:
        mine = result.targets == c
        rows[str(c)] = {"recovered": round(metrics.per_class[c]["top1"] * int(mine.sum())),
                        "named": Counter(int(n) for n in named[mine]).most_common(4)}
        print(c, rows[str(c)], flush=True)
    out.write_text(json.dumps({"model": str(model_path), "gan": str(gan_path), "top1": metrics.top1,
                               "seconds": round(time.perf_counter() - started, 1), "classes": rows}, indent=1))


if __name__ == "__main__":
    main()
