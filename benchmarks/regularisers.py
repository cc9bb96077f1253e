"""Training-time defenses on the synthetic MI world of the tests: plain cross-entropy against negative label
smoothing (NegLS, the paper's schedule) and random erasing (MIDRE), at equal epochs, judged by GMI and the
LOMMA logit attack (the tests' GAN and evaluation model, attack seed 90001, 4 restarts on all 8 classes).

    OMP_NUM_THREADS=1 python benchmarks/regularisers.py [--epochs 16] [--cache .cache/benchmarks/mi_world]

The world is built by tests/conftest.py's builder (8 private and 8 public synthetic identities at 32 px).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ROWS = [("cross-entropy", {}),
        ("NegLS -0.05", {"label_smoothing": -0.05, "smoothing_schedule": "negls"}),
        ("NegLS -0.2", {"label_smoothing": -0.2, "smoothing_schedule": "negls"}),
        ("random erasing 0.5", {"random_erasing": 0.5})]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=16)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "benchmarks" / "mi_world")
    args = parser.parse_args()

    import torch

    sys.path.insert(0, str(ROOT / "tests"))
    from conftest import _build_mi_world

    from hardener.attacks.presets import get_attack
    from hardener.audit.metrics import attack_metrics
    from hardener.data import load_dataset, to_model_input
    from hardener.gan import load_gan
    from hardener.registry import build_model
    from hardener.loading import load_model
    from hardener.train import TrainConfig, train_classifier
    from hardener.evaluate import accuracy

    index = args.cache / "paths.json"
    if not index.exists():
        args.cache.mkdir(parents=True, exist_ok=True)
        index.write_text(json.dumps({k: str(v) for k, v in _build_mi_world(args.cache).items()}))
    paths = {k: Path(v) for k, v in json.loads(index.read_text()).items()}
    train, test, private = (load_dataset(paths[k]) for k in ("train", "test", "private"))
    gan, evaluator = load_gan(paths["gan"]), load_model(paths["eval"]).model
    x, y = to_model_input(test.images, 32), torch.from_numpy(test.labels)
    print("| training | held-out top-1 | GMI top-1 / top-5 | LOMMA logit top-1 / top-5 | train s |")
    print("| --- | --- | --- | --- | --- |")
    for name, options in ROWS:
        torch.manual_seed(0)
        model = build_model("resnet", "resnet18", 8, 32)
        started = time.perf_counter()
        train_classifier(model, train, config=TrainConfig(epochs=args.epochs, batch_size=32, seed=0, **options))
        seconds = time.perf_counter() - started
        cells = []
        for preset in ("gmi", "lomma-logit"):
            result = get_attack(preset).run(gan.generator, gan.critic, model, list(range(8)), latent_dim=gan.latent_dim,
                                            seed=90001, steps=args.steps, restarts=4)
            m = attack_metrics(result, evaluator, private)
            cells.append(f"{m.top1:.0%} / {m.top5:.0%}")
        print(f"| {name} | {accuracy(model, x, y):.1%} | {cells[0]} | {cells[1]} | {seconds:.0f} |", flush=True)


if __name__ == "__main__":
    main()
