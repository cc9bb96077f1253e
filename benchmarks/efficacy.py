"""Efficacy of `protect` (the decoy defense) against attacks it did not train with.

    python benchmarks/efficacy.py --world synthetic [--protect 1 4] [--rounds 3] [--steps-per-round 60]
    python benchmarks/efficacy.py --world lfw [--attack-steps 200]   # after benchmarks/train_models.py

synthetic: the same small world as the tests (8 private and 8 public synthetic identities, ResNet-18 target
and evaluation model at 32 px, a width-16 GAN). lfw: the models of benchmarks/train_models.py and the 5
private identities with the most images. Prints natural accuracy (held-out) and attack top-1/top-5 by the
evaluation model before and after protect, for every preset at seeds protect never used, and protect's time.
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
    parser.add_argument("--world", choices=("synthetic", "lfw"), default="synthetic")
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--protect", type=int, nargs="+", default=None)
    parser.add_argument("--attack-steps", type=int, default=200, help="cap on each preset's steps")
    parser.add_argument("--restarts", type=int, default=4)
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
    from hardener.loading import load_model
    from hardener.evaluate import accuracy

    if args.world == "synthetic":
        args.cache = args.cache or ROOT / ".cache" / "efficacy_synthetic"
        world = synthetic_world(args.cache, conftest)
        args.protect = args.protect or [1, 4]
    else:
        args.cache = args.cache or ROOT / ".cache" / "benchmarks"
        c = args.cache
        world = {"target": c / "target" / "model.safetensors", "eval": c / "eval" / "model.safetensors",
                 "gan": c / "gan" / "gan.safetensors", "train": c / "splits" / "private" / "train.npz",
                 "test": c / "splits" / "private" / "test.npz", "private": c / "splits" / "private.npz"}
    target, evaluator = load_model(world["target"]).model, load_model(world["eval"]).model
    gan = load_gan(world["gan"])
    train, test, private = (load_dataset(world[k]) for k in ("train", "test", "private"))
    if args.protect is None:  # the protocol: the 5 private identities with the most images
        import numpy as np

        args.protect = [int(c) for c in np.argsort(-np.bincount(private.labels), kind="stable")[:5]]
    started = time.perf_counter()
    result = protect_decoy(target, gan.generator, gan.critic, gan.classifier, args.protect, data=train,
                           config=DecoyConfig(rounds=args.rounds, steps_per_round=args.steps_per_round, preset=args.preset))
    seconds = time.perf_counter() - started
    x, y = to_model_input(test.images, target.spec.image_size), torch.from_numpy(test.labels)
    print(f"protect: classes {args.protect}, decoys {result.decoys}, {len(result.rounds)} rounds, {seconds:.0f} s")
    for r in result.rounds:
        print(f"  round {r['round']}: decoy hit rate {r['decoy_hit_rate']}")
    print("\n| measure | before | after |\n| --- | --- | --- |")
    for label, classes in (("held-out accuracy, all classes", None), ("held-out accuracy, protected", args.protect)):
        print(f"| {label} | {accuracy(target, x, y, classes=classes):.1%} | {accuracy(result.model, x, y, classes=classes):.1%} |")
    for index, (name, attack) in enumerate(PRESETS.items()):
        steps = min(attack.config.steps, args.attack_steps)
        row = []
        for model in (target, result.model):
            inversion = attack.run(gan.generator, gan.critic, model, args.protect, latent_dim=gan.latent_dim,
                                   seed=5000 + index, steps=steps, restarts=args.restarts,
                                   public_classifier=gan.classifier)
            m = attack_metrics(inversion, evaluator, private)
            row.append((m.top1, m.top5, decoy_hits(inversion, gan.classifier, result.decoys, "cpu")))
        hits = sum(row[1][2].values()) / len(row[1][2])
        print(f"| attack {name} ({steps} steps) top-1 / top-5 | {row[0][0]:.1%} / {row[0][1]:.1%} | "
              f"{row[1][0]:.1%} / {row[1][1]:.1%} (decoy hit {hits:.0%}) |", flush=True)


def synthetic_world(cache: Path, conftest) -> dict:
    names = {"target": "target.safetensors", "eval": "eval.safetensors", "gan": "gan.safetensors",
             "train": "train.npz", "test": "test.npz", "private": "private.npz"}
    if (cache / "gan.safetensors").exists():
        return {k: cache / v for k, v in names.items()}

    class Folder:
        def mktemp(self, name: str) -> Path:
            cache.mkdir(parents=True, exist_ok=True)
            return cache

    return conftest.mi_world.__wrapped__(Folder())


if __name__ == "__main__":
    main()
