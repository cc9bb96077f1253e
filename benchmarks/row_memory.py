"""Memory and time per inversion row on the CPU, for sizing ranks (README "Scaling").

One row is one latent being optimised (a class x a restart). Each `--rows` runs in a fresh process (peak RSS
only grows), inverting that many rows with the GMI preset's optimiser and critic prior for `--steps` steps,
through the protocol's shapes: 64 px GMI-layout GAN at full width 64 (untrained: memory and time do not
depend on the weights), ResNet-18 target with 79 classes. Rows are 1 restart of each of the first N classes
(N <= 79) or 5 restarts of N/5 classes beyond that.

    OMP_NUM_THREADS=1 python benchmarks/row_memory.py [--rows 1 64] [--steps 5]

Prints one line per row count: peak RSS after loading the models and after the inversion, and seconds per
step (the first step, which allocates, is left out); then the per-row difference between the first and the
last count.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys


def measure(rows: int, steps: int) -> dict:
    import resource
    import time

    import torch

    from hardener.attacks.engine import InversionConfig, invert
    from hardener.gan.models import Critic, Generator
    from hardener.progress import ProgressEvent
    from hardener.registry import build_model

    def peak_mib() -> float:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux

    torch.manual_seed(0)
    generator, critic = Generator(64, 64, 100).eval(), Critic(64, 64).eval()
    target = build_model("resnet", "resnet18", 79, 64).eval()
    restarts = 1 if rows <= 79 else 5
    classes = list(range(-(-rows // restarts)))
    loaded = peak_mib()
    stamps: list[float] = []
    config = InversionConfig(steps=steps, lr=0.02, optimizer="sgd", momentum=0.9, lam=100.0, restarts=restarts,
                             identity_loss="ce", prior="critic")
    invert(generator, critic, target, classes, config=config, latent_dim=100, seed=0, device="cpu",
           progress=lambda event: stamps.append(time.perf_counter()) if isinstance(event, ProgressEvent) else None)
    per_step = (stamps[-1] - stamps[1]) / max(1, len(stamps) - 2) if len(stamps) > 2 else float("nan")
    return {"rows": len(classes) * restarts, "threads": torch.get_num_threads(), "peak_after_load_mib": round(loaded, 1),
            "peak_after_inversion_mib": round(peak_mib(), 1), "seconds_per_step": round(per_step, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, nargs="+", default=[1, 64])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # the child process: measure this many rows
    args = parser.parse_args()
    if args.one is not None:
        print(json.dumps(measure(args.one, args.steps)))
        return
    results = []
    for rows in args.rows:
        child = subprocess.run([sys.executable, __file__, "--one", str(rows), "--steps", str(args.steps)],
                               capture_output=True, text=True, check=True)
        results.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(json.dumps(results[-1]), flush=True)
    if len(results) > 1:
        first, last = results[0], results[-1]
        extra = last["peak_after_inversion_mib"] - first["peak_after_inversion_mib"]
        print(f"per row: {extra / (last['rows'] - first['rows']):.2f} MiB peak RSS "
              f"({first['rows']} -> {last['rows']} rows: +{extra:.1f} MiB)")


if __name__ == "__main__":
    main()
