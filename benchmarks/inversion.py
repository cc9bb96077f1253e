"""Inversion engine benchmark: batched vs one-class-at-a-time throughput, time outside the networks,
and every attack preset's accuracy against the undefended LFW target (the baseline defenses face).

    python benchmarks/inversion.py [--cache .cache/benchmarks] [--classes 10] [--restarts 2] [--scale 0.2]

Needs the models from benchmarks/train_models.py (same --cache). --scale multiplies each preset's
published step count (1.0 = 1500 GMI steps), so the run fits a CPU; the table says what was run.
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "benchmarks")
    parser.add_argument("--classes", type=int, default=10, help="private classes attacked (the ones with most images)")
    parser.add_argument("--restarts", type=int, default=2)
    parser.add_argument("--scale", type=float, default=0.2)
    parser.add_argument("--speed-steps", type=int, default=10)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--skip-speed", action="store_true")
    args = parser.parse_args()

    import numpy as np

    from hardener.attacks.presets import PRESETS
    from hardener.audit.metrics import attack_metrics
    from hardener.data import load_dataset
    from hardener.device import resolve_device
    from hardener.gan import load_gan
    from hardener.attacks.engine import InversionConfig, invert
    from hardener.loading import load_model

    device = resolve_device(args.device)
    cache = args.cache
    target = load_model(cache / "target" / "model.safetensors").model
    evaluator = load_model(cache / "eval" / "model.safetensors").model
    gan = load_gan(cache / "gan" / "gan.safetensors")
    private = load_dataset(cache / "splits" / "private.npz")
    classes = [int(c) for c in np.argsort(-np.bincount(private.labels), kind="stable")[: args.classes]]
    print(f"device {device}; torch threads {torch.get_num_threads()}; classes {classes}")

    if not args.skip_speed:
        speed_table(gan, target, classes, args, device, invert, InversionConfig)

    print("\n| preset | steps run (published) | restarts | top-1 | top-5 | any restart top-1 | KNN dist | feature Frechet | seconds |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for name, attack in PRESETS.items():
        steps = max(1, round(attack.config.steps * args.scale))
        result = attack.run(gan.generator, gan.critic, target, classes, latent_dim=gan.latent_dim, seed=1,
                            steps=steps, restarts=args.restarts, device=device, public_classifier=gan.classifier)
        m = attack_metrics(result, evaluator, private, device=device)
        print(f"| {name} | {result.steps_run} ({attack.config.steps}) | {args.restarts} | {m.top1:.1%} | {m.top5:.1%} | "
              f"{m.any_restart_top1:.1%} | {m.knn_distance:.2f} | {m.feature_frechet_distance:.1f} | "
              f"{result.seconds:.0f} |", flush=True)
    chance = 1 / target.num_classes
    print(f"\nchance: top-1 {chance:.1%}, top-5 {5 * chance:.1%} ({target.num_classes} classes)")


def speed_table(gan, target, classes, args, device, invert, InversionConfig) -> None:
    """Equal total work: every (class, restart) row for `speed_steps` steps, batched vs looped."""
    config = InversionConfig(steps=args.speed_steps, restarts=args.restarts, lr=0.02)
    rows = len(classes) * args.restarts
    started = time.perf_counter()
    invert(gan.generator, gan.critic, target, classes, config=config, latent_dim=gan.latent_dim, device=device)
    batched = time.perf_counter() - started
    single = InversionConfig(steps=args.speed_steps, restarts=1, lr=0.02)
    started = time.perf_counter()
    for c in classes:
        for r in range(args.restarts):
            invert(gan.generator, gan.critic, target, [c], config=single, latent_dim=gan.latent_dim, seed=r,
                   device=device)
    looped = time.perf_counter() - started
    network = network_time(gan, target, rows, args.speed_steps, device)
    print("\n| engine | rows | steps | latent-steps/s | wall s |")
    print("| --- | --- | --- | --- | --- |")
    print(f"| batched (all rows in one batch) | {rows} | {args.speed_steps} | {rows * args.speed_steps / batched:.1f} | {batched:.1f} |")
    print(f"| looped (one class and restart at a time, as GMI's code) | {rows} | {args.speed_steps} | "
          f"{rows * args.speed_steps / looped:.1f} | {looped:.1f} |")
    print(f"\nshare of batched step time outside the networks' forward and backward: "
          f"{max(0.0, 1 - network / batched):.1%} (networks alone {network:.1f} s of {batched:.1f} s)")


def network_time(gan, target, rows: int, steps: int, device) -> float:
    """Forward and backward through G, D and the target only, on the same batch: the floor for a step."""
    for m in (gan.generator, gan.critic, target):
        m.eval().requires_grad_(False).to(device)
    z = torch.randn(rows, gan.latent_dim, device=device, requires_grad=True)
    started = time.perf_counter()
    for _ in range(steps):
        images = gan.generator(z)
        (gan.critic(images).sum() + target(images).sum()).backward()
    return time.perf_counter() - started


if __name__ == "__main__":
    main()
