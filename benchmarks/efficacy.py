"""Efficacy of `protect` (the decoy defense) against attacks it did not train with, by a GAN it never saw.

    python benchmarks/efficacy.py --world synthetic [--recipe margin|patent] [--set beta=4 ...]
    python benchmarks/efficacy.py --world synthetic --sweep beta=0.5,1,2,4   # the privacy-utility frontier
    python benchmarks/efficacy.py --world lfw [--attack-steps 200]   # after benchmarks/train_models.py

Worlds (benchmarks/worlds.py, shared by every benchmark): synthetic, the tests' small world plus the
attacker's GAN on other public identities; lfw, the models of benchmarks/train_models.py, the 5 private
identities with the most images protected, the attacker's GAN on the other identity half of public. Prints natural accuracy (held-out) and attack top-1/top-5 by the evaluation model before and
after protect, for every preset of `--presets` at seeds protect never used (90001+), and protect's time.
"""
from __future__ import annotations

import argparse
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
    parser.add_argument("--recipe", default=None, help="protect's recipe (default: DecoyConfig's)")
    parser.add_argument("--set", nargs="*", default=[], help="DecoyConfig fields, e.g. beta=4 samples_per_class=12")
    parser.add_argument("--sweep", default=None, help="one DecoyConfig field over values, e.g. beta=0.5,1,2,4")
    parser.add_argument("--presets", default="strong", help="attack presets or group judged after protect")
    parser.add_argument("--with-patent", action="store_true", help="a row for --recipe patent before the sweep")
    parser.add_argument("--save", type=Path, default=None,
                        help="keep each setting's hardened model here (one safetensors file per row) to judge it again")
    parser.add_argument("--plot", type=Path, default=None, help="write the privacy-utility frontier as a PNG")
    parser.add_argument("--start", type=Path, default=None,
                        help="protect this model instead of the world's target (e.g. `protect --method tl-dmi`'s "
                             "model.safetensors: a stacked defense); `undefended` stays the world's target and the "
                             "start model gets a row of its own")
    parser.add_argument("--same-gan", action="store_true",
                        help="attack with protect's own GAN (the white-box setting the tests use), not the attacker's")
    args = parser.parse_args()

    from worlds import config_fields, load_world  # the same worlds and attacker GAN as the other benchmarks

    from hardener.attacks.presets import expand_presets, get_attack
    from hardener.audit.metrics import attack_metrics
    from hardener.data import load_dataset, to_model_input
    from hardener.defenses.decoy import DecoyConfig, protect_decoy
    from hardener.gan import load_gan
    from hardener.loading import load_model
    from hardener.evaluate import accuracy

    world = load_world(args.world, args.cache)
    args.protect = args.protect or world["protect_classes"]
    target, evaluator = load_model(world["target"]).model, load_model(world["eval"]).model
    gan = load_gan(world["gan"])
    train, test, private = (load_dataset(world[k]) for k in ("train", "test", "private"))
    attacker_gan = gan if args.same_gan else load_gan(world["attack_gan"])
    if args.same_gan:
        print("NOTE: the attacker uses protect's own GAN (--same-gan)")
    x, y = to_model_input(test.images, target.spec.image_size), torch.from_numpy(test.labels)
    presets = [attack.name for attack, _ in expand_presets(args.presets.split(","))]
    print(f"attacker: presets {presets}, at most {args.attack_steps} steps x {args.restarts} restarts, seeds 90001+")

    def judge(attack, model, index: int) -> tuple[float, float]:
        """(top-1, top-5) on the protected classes by the evaluation model, attacked with the attacker's GAN."""
        inverted = attack.prepare(model, attacker_gan.generator, attacker_gan.latent_dim,
                                  budget_fraction=min(1.0, args.attack_steps / attack.config.steps), seed=90001 + index)
        inversion = attack.run(attacker_gan.generator, attacker_gan.critic, inverted, args.protect,
                               latent_dim=attacker_gan.latent_dim, seed=90001 + index,
                               steps=min(attack.config.steps, args.attack_steps), restarts=args.restarts,
                               public_classifier=attacker_gan.classifier)
        m = attack_metrics(inversion, evaluator, private)
        return m.top1, m.top5

    def judge_all(model) -> dict:
        """{preset: (top-1, top-5)}, each preset at its own seed (90001 + its place in --presets)."""
        return {name: judge(get_attack(name), model, index) for index, name in enumerate(presets)}

    def row_line(recipe: str, setting: str, seconds: float, model, judged: dict) -> str:
        cells = [f"{top1:.0%} / {top5:.0%}" for top1, top5 in judged.values()]
        worst = max(top1 for top1, _ in judged.values())
        return (f"| {recipe} | {setting} | {seconds:.0f} | {accuracy(model, x, y):.1%} | "
                f"{accuracy(model, x, y, classes=args.protect):.1%} | " + " | ".join(cells) + f" | {worst:.0%} |")

    base = dict(rounds=args.rounds, steps_per_round=args.steps_per_round, **config_fields(args.set))
    if args.recipe:
        base["recipe"] = args.recipe
    settings = [base] if not args.sweep else [{**base, **config_fields([f"{args.sweep.split('=')[0]}={v}"])}
                                             for v in args.sweep.split("=")[1].split(",")]
    if args.with_patent:
        settings.insert(0, dict(rounds=args.rounds, steps_per_round=args.steps_per_round, recipe="patent"))
    points = []
    undefended = judge_all(target)
    print("\n| recipe | setting | protect s | acc all | acc protected | " + " | ".join(presets) + " | worst |")
    print("| --- | --- | --- | --- | --- | " + " | ".join("---" for _ in presets) + " | --- |")
    print(row_line("undefended", "-", 0.0, target, undefended))
    points.append(("undefended", accuracy(target, x, y), max(t for t, _ in undefended.values()), None))
    start = target
    if args.start:
        start = load_model(args.start).model
        judged = judge_all(start)
        print(row_line("start", args.start.parent.name or args.start.name, 0.0, start, judged), flush=True)
        points.append(("start", accuracy(start, x, y), max(t for t, _ in judged.values()), None))
    for setting in settings:
        config = DecoyConfig(**setting)
        started = time.perf_counter()
        result = protect_decoy(start, gan.generator, gan.critic, gan.classifier, args.protect, data=train,
                               config=config)
        seconds = time.perf_counter() - started
        if args.save:
            from hardener.loading import save_bundle

            args.save.mkdir(parents=True, exist_ok=True)
            name = "_".join(f"{k}={v}" for k, v in sorted(setting.items())).replace("/", "-") or "defaults"
            print(f"saved {save_bundle(result.model, args.save / f'{name}.safetensors')}", flush=True)
        after = judge_all(result.model)
        defaults = DecoyConfig()
        changed = ", ".join(f"{k}={v}" for k, v in setting.items() if k != "recipe" and getattr(defaults, k) != v)
        print(row_line(config.recipe, changed or "defaults", seconds, result.model, after), flush=True)
        drop = accuracy(target, x, y) - accuracy(result.model, x, y)
        worst = max(t for t, _ in after.values())
        points.append((f"{config.recipe} {changed}".strip(), accuracy(result.model, x, y), worst,
                       worst <= 0.05 and drop <= 0.01))  # the gate's limits on the point values (no intervals)
    if args.plot:
        from hardener.report.plots import privacy_utility_png

        print(f"plot: {privacy_utility_png(points, args.plot, title='protect: worst attack vs accuracy')}")


if __name__ == "__main__":
    main()
