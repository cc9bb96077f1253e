"""Why is the ppa preset weak on LFW at the standard budget? Its parts one at a time, against the undefended
target, beside lomma-logit at the same steps (the attack-suite issue asks for a new attack above it at equal
latent-steps).

    python benchmarks/ppa_ablation.py --world lfw --classes 10 --restarts 2 [--steps 120]

Each variant is the ppa preset with some InversionConfig fields changed, named here before it is run. The
attacker's GAN (benchmarks/worlds.py), verify's seed for ppa, the world's evaluation model judging top-1/top-5
with the Wilson 95 % interval. --classes: the private classes with the most images.
"""
from __future__ import annotations

import argparse
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def variants(steps: int) -> dict[str, tuple[str, dict]]:
    """name -> (preset, InversionConfig overrides)."""
    return {
        "ppa (standard)": ("ppa", {"steps": steps}),
        "ppa, published length": ("ppa", {}),
        "ppa without warps (pick by plain confidence)": ("ppa", {"steps": steps, "augment": None,
                                                                 "select": "confidence"}),
        "ppa, pick by plain confidence": ("ppa", {"steps": steps, "select": "confidence"}),
        "ppa with the max-margin loss": ("ppa", {"steps": steps, "identity_loss": "margin"}),
        "ppa with the logit loss": ("ppa", {"steps": steps, "identity_loss": "logit"}),
        "lomma-logit at the same steps": ("lomma-logit", {"steps": steps}),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", choices=("synthetic", "lfw"), default="lfw")
    parser.add_argument("--classes", type=int, default=10)
    parser.add_argument("--restarts", type=int, default=2)
    parser.add_argument("--steps", type=int, default=120, help="ppa's standard-budget steps (1/5 of 600)")
    parser.add_argument("--only", nargs="*", default=None)
    args = parser.parse_args()

    from attacks import rate_cells, verify_seed
    from worlds import load_world, ranked_classes

    from hardener.attacks.engine import invert
    from hardener.attacks.presets import PRESETS
    from hardener.audit.metrics import attack_metrics
    from hardener.data import load_dataset
    from hardener.gan import load_gan
    from hardener.loading import load_model

    world = load_world(args.world)
    target, evaluator = load_model(world["target"]).model, load_model(world["eval"]).model
    gan, private = load_gan(world["attack_gan"]), load_dataset(world["private"])
    classes = ranked_classes(private.labels)[:args.classes]
    seed = verify_seed("ppa")
    print(f"classes {classes} x {args.restarts} restarts, seed {seed}, chance top-1 {1 / target.num_classes:.1%}\n")
    print("| variant | steps | top-1 (95% CI) | top-5 | any restart top-1 | wall s |")
    print("| --- | ---: | --- | ---: | ---: | ---: |")
    for name, (preset, changes) in variants(args.steps).items():
        if args.only and name not in args.only:
            continue
        config = replace(PRESETS[preset].config, restarts=args.restarts, **changes)
        started = time.perf_counter()
        result = invert(gan.generator, gan.critic, target, classes, config=config, latent_dim=gan.latent_dim,
                        seed=seed)
        metrics = attack_metrics(result, evaluator, private)
        print(f"| {name} | {config.steps} | {rate_cells(metrics)} | {time.perf_counter() - started:.0f} |", flush=True)


if __name__ == "__main__":
    main()
