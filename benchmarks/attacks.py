"""Every attack preset at one budget, against the undefended target and a hardened one.

    python benchmarks/attacks.py --world synthetic --hardened HARDENED [--budget standard]
    python benchmarks/attacks.py --world lfw --hardened HARDENED        # after benchmarks/train_models.py

Worlds (benchmarks/worlds.py, shared by every benchmark): synthetic, the tests' world; lfw, the models of
benchmarks/train_models.py. Every attack uses the attacker's GAN (`attack_gan`), which no defense saw. HARDENED is a protect output folder or model file (optional). Table 1:
the undefended target on every class, or the --classes with the most images (--restarts each). Table 2: undefended vs hardened on the protected
classes (--protect; default: the 5 private identities with the most images) with --protected-restarts each.
LOMMA's surrogates are cached in --cache/surrogates. Top-1 with its 95 % Wilson interval over reconstructions; lure escape = share of reconstructions the GAN's
public classifier names no public class with confidence above 0.5. Seeds are those verify uses.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--world", choices=("synthetic", "lfw"), default="synthetic")
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--hardened", type=Path, default=None)
    parser.add_argument("--budget", default="standard")
    parser.add_argument("--presets", nargs="+", default=["all"])
    parser.add_argument("--restarts", type=int, default=2)
    parser.add_argument("--protected-restarts", type=int, default=5)
    parser.add_argument("--protect", type=int, nargs="+", default=None)
    parser.add_argument("--classes", type=int, default=None,
                        help="table 1 on the N private classes with the most images (default: every class)")
    parser.add_argument("--tables", type=int, nargs="+", default=[1, 2], help="1, 2 or both (to split a long run)")
    args = parser.parse_args()

    from worlds import load_world, ranked_classes

    from hardener.attacks.adaptive_decoy import escape_rate
    from hardener.attacks.presets import expand_presets, get_budget
    from hardener.audit.metrics import attack_metrics
    from hardener.checkpoint import CacheFolder
    from hardener.data import load_dataset
    from hardener.gan import load_gan
    from hardener.loading import load_model
    from hardener.jobs.suite import hardened_files

    world = load_world(args.world, args.cache)
    cache = world["cache"]
    target, evaluator = load_model(world["target"]).model, load_model(world["eval"]).model
    gan, private = load_gan(world["attack_gan"]), load_dataset(world["private"])
    budget = get_budget(args.budget)
    protect = args.protect or world["protect_classes"]
    attacks = [a for a, _ in expand_presets(args.presets)]
    print(f"torch threads {torch.get_num_threads()}; budget {budget.name}; chance top-1 {1 / target.num_classes:.1%}")

    def row(attack, model, classes, restarts):
        steps, restarts = budget.scale(attack, None, restarts)
        seed = verify_seed(attack.name)
        inverted = attack.prepare(model, gan.generator, gan.latent_dim, caches=CacheFolder(cache / "surrogates"),
                                  budget_fraction=budget.steps_fraction, seed=seed)
        result = attack.run(gan.generator, gan.critic, inverted, classes, latent_dim=gan.latent_dim, seed=seed,
                            steps=steps, restarts=restarts, public_classifier=gan.classifier)
        m = attack_metrics(result, evaluator, private)
        return (f"{rate_cells(m)} | {m.knn_distance:.2f} | {escape_rate(result, gan.classifier):.0%} | "
                f"{result.seconds:.0f}"), steps

    if 1 in args.tables:
        classes = ranked_classes(private.labels)[:args.classes]
        print(f"\nUndefended target, {len(classes)} of {target.num_classes} classes x {args.restarts} restarts\n")
        print("| preset | steps (published) | top-1 (95% CI) | top-5 | any restart top-1 | KNN dist | lure escape | s |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for attack in attacks:
            text, steps = row(attack, target, classes, args.restarts)
            print(f"| {attack.name} | {steps} ({attack.config.steps}) | {text} |", flush=True)
    if args.hardened is None or 2 not in args.tables:
        return
    hardened = load_model(hardened_files(args.hardened)[0]).model
    print(f"\nProtected classes {protect} x {args.protected_restarts} restarts: undefended -> hardened\n")
    print("| preset | model | top-1 (95% CI) | top-5 | any restart top-1 | KNN dist | lure escape | s |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for attack in attacks:
        for name, model in (("undefended", target), ("hardened", hardened)):
            print(f"| {attack.name} | {name} | {row(attack, model, protect, args.protected_restarts)[0]} |", flush=True)


def verify_seed(preset: str) -> int:
    """The seed `hardener verify` gives `preset` (at --seed 0)."""
    from hardener.attacks.presets import PRESETS
    from hardener.jobs.suite import VERIFY_SEED_OFFSET

    return VERIFY_SEED_OFFSET + list(PRESETS).index(preset)


def rate_cells(m) -> str:
    """Table cells "top-1 (95 % Wilson CI) | top-5 | any restart top-1" of AttackMetrics `m`."""
    from hardener.audit.intervals import wilson

    ci = wilson(round(m.top1 * m.rows), m.rows)
    return f"{m.top1:.1%} ({ci.low:.0%}-{ci.high:.0%}) | {m.top5:.1%} | {m.any_restart_top1:.1%}"


if __name__ == "__main__":
    main()
