"""Efficacy of `protect` (the decoy defense) against attacks it did not train with, on synthetic faces.

    python benchmarks/efficacy.py [--protect 1 4] [--rounds 3] [--steps-per-round 60] [--preset patent]

Builds the same small world as the tests (8 private and 8 public synthetic identities, ResNet-18 target and
evaluation model at 32 px, a width-16 GAN), protects the classes, and prints natural accuracy and attack
top-1/top-5 (by the evaluation model) before and after, for every preset at fresh seeds. The LFW version
(5 protected classes on the benchmark split) is still to come; see README.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "efficacy_synthetic")
    parser.add_argument("--protect", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps-per-round", type=int, default=60)
    parser.add_argument("--preset", default="patent", help="inversion protect uses for its samples")
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "tests"))
    import conftest  # the test world, built by the same code

    from hardener.attacks.presets import PRESETS
    from hardener.audit.metrics import attack_metrics
    from hardener.data import load_dataset, to_model_input
    from hardener.defenses.decoy import DecoyConfig, decoy_hits, protect_decoy
    from hardener.gan import load_gan
    from hardener.io import load_model
    from hardener.train import accuracy

    class Folder:
        def mktemp(self, name: str) -> Path:
            args.cache.mkdir(parents=True, exist_ok=True)
            return args.cache

    world = {k: args.cache / v for k, v in (("target", "target.safetensors"), ("eval", "eval.safetensors"),
                                            ("gan", "gan.safetensors"), ("train", "train.npz"), ("test", "test.npz"),
                                            ("private", "private.npz"))}
    if not world["gan"].exists():
        world = conftest.mi_world.__wrapped__(Folder())
    target, evaluator = load_model(world["target"]).model, load_model(world["eval"]).model
    gan = load_gan(world["gan"])
    train, test, private = (load_dataset(world[k]) for k in ("train", "test", "private"))
    started = time.perf_counter()
    result = protect_decoy(target, gan.generator, gan.critic, gan.classifier, args.protect, data=train,
                           config=DecoyConfig(rounds=args.rounds, steps_per_round=args.steps_per_round, preset=args.preset))
    seconds = time.perf_counter() - started
    x, y = to_model_input(test.images, 32), torch.from_numpy(test.labels)
    print(f"protect: classes {args.protect}, decoys {result.decoys}, {len(result.rounds)} rounds, {seconds:.0f} s")
    for r in result.rounds:
        print(f"  round {r['round']}: decoy hit rate {r['decoy_hit_rate']}")
    print("\n| measure | before | after |\n| --- | --- | --- |")
    for label, classes in (("held-out accuracy, all classes", None), ("held-out accuracy, protected", args.protect)):
        print(f"| {label} | {accuracy(target, x, y, classes=classes):.1%} | {accuracy(result.model, x, y, classes=classes):.1%} |")
    for index, (name, attack) in enumerate(PRESETS.items()):
        steps = min(attack.config.steps, 200)
        row = []
        for model in (target, result.model):
            inversion = attack.run(gan.generator, gan.critic, model, args.protect, latent_dim=gan.latent_dim,
                                   seed=5000 + index, steps=steps, restarts=4)
            m = attack_metrics(inversion, evaluator, private)
            row.append((m.top1, m.top5, decoy_hits(inversion, gan.classifier, result.decoys, "cpu")))
        hits = sum(row[1][2].values()) / len(row[1][2])
        print(f"| attack {name} ({steps} steps) top-1 / top-5 | {row[0][0]:.1%} / {row[0][1]:.1%} | "
              f"{row[1][0]:.1%} / {row[1][1]:.1%} (decoy hit {hits:.0%}) |", flush=True)


if __name__ == "__main__":
    main()
