"""Train the four models the LFW benchmark protocol needs, and print their accuracies and wall times.

Protocol (../shared/DESIGN.md): lfw_deepfunneled_min10_64.npz, even labels private (79 identities),
odd public (79); private images split 80/20 per identity (seed 0). Target: ResNet-18 on private-train;
evaluation model: another architecture on private-train; public classifier on public; two 64 px GANs on
the two identity halves of public (by parity, `splits/public-halves`): `gan` (protect's, half A, seed 0)
and `gan-attacker` (the attacker's, half B, seed 1), so no defense sees the attacker's GAN or its faces.

    python benchmarks/train_models.py [--data PATH] [--cache DIR] [--epochs N] [--gan-epochs N] [--stages ...]

Trained files go to --cache (default .cache/benchmarks, ignored by git); a stage whose report exists
is not retrained, so the command rebuilds only what is missing.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "lfw_deepfunneled_min10_64.npz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "benchmarks")
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--eval-arch", default="facenet")
    parser.add_argument("--gan-epochs", type=int, default=30)
    parser.add_argument("--gan-width", type=int, default=32)
    parser.add_argument("--stages", nargs="+", default=["split", "target", "eval", "public", "gan", "gan-attacker"])
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    from hardener.jobs.data_split import write_split

    cache = args.cache
    splits = cache / "splits"
    if "split" in args.stages and not (splits / "private" / "split.json").exists():
        write_split(str(args.data), splits, by="identity", scheme="parity")
        write_split(str(splits / "private.npz"), splits / "private", by="image", test_fraction=0.2, seed=0)
    halves = splits / "public-halves"  # private.npz: half A (protect's GAN), public.npz: half B (the attacker's)
    if "split" in args.stages and not (halves / "split.json").exists():
        write_split(str(splits / "public.npz"), halves, by="identity", scheme="parity")

    from hardener.jobs.train_classifier import ClassifierJob, run_classifier_job
    from worlds import interrupted
    from hardener.train import TrainConfig

    jobs = {
        "target": ("resnet", "resnet18", splits / "private" / "train.npz", splits / "private" / "test.npz"),
        "eval": (args.eval_arch, None, splits / "private" / "train.npz", splits / "private" / "test.npz"),
        "public": ("resnet", "resnet18", splits / "public.npz", None),
    }
    for stage, (arch, variant, train, val) in jobs.items():
        out = cache / stage
        if stage not in args.stages or (out / "report.json").exists() and json.loads((out / "report.json").read_text()).get("final", {}).get("epoch") == args.epochs:
            continue
        print(f"[{time.strftime('%H:%M:%S')}] training {stage}: {arch} on {train.name}", flush=True)
        job = ClassifierJob(data=str(train), arch=arch, variant=variant, image_size=64, out=out,
                            val=str(val) if val else None, val_fraction=0.0 if val else 0.2, device=args.device,
                            resume=interrupted(out), config=TrainConfig(epochs=args.epochs, batch_size=64, seed=0))
        run_classifier_job(job, _log(stage))

    for stage, half, seed in (("gan", "private.npz", 0), ("gan-attacker", "public.npz", 1)):
        if stage in args.stages and not (cache / stage / "report.json").exists():
            train_gan_stage(cache, stage, halves / half, seed, args)
        if (cache / stage / "report.json").exists():
            add_public_classifier(cache, stage)

    print_table(cache)


def train_gan_stage(cache: Path, stage: str, public: Path, seed: int, args: argparse.Namespace) -> None:
    """A GAN on one identity half of public; the public classifier (stage `public`) goes into its bundle
    (benchmarks/worlds.py says why the attacker's bundle carries the defender's classifier)."""
    from hardener.data import load_dataset
    from hardener.files import write_json
    from hardener.gan import sample_grid, save_gan_bundle, train_gan
    from hardener.jobs.checkpoints import GAN_CHECKPOINT, checkpoint
    from hardener.report.images import save_png
    from hardener.loading import load_model

    out = cache / stage
    (out / "samples").mkdir(parents=True, exist_ok=True)
    print(f"[{time.strftime('%H:%M:%S')}] training {stage}: {public.name}, width {args.gan_width}, "
          f"{args.gan_epochs} epochs, seed {seed}", flush=True)
    result = train_gan(load_dataset(public), image_size=64, epochs=args.gan_epochs, width=args.gan_width, seed=seed,
                       device=args.device, checkpoint=checkpoint(out, GAN_CHECKPOINT, resume=(out / "checkpoints").exists()),
                       progress=_log(stage),
                       on_epoch_end=lambda e, g: save_png(sample_grid(g, 64, seed=0), out / "samples" / f"epoch_{e:03d}.png"))
    classifier = load_model(cache / "public" / "model.safetensors") if (cache / "public" / "model.safetensors").exists() else None
    save_gan_bundle(out / "gan.safetensors", result.generator.cpu(), result.critic.cpu(),
                    classifier=classifier.model if classifier else None,
                    class_names=classifier.class_names if classifier else None, produced_by="benchmarks/train_models.py")
    write_json(out / "report.json", {"epochs": result.epochs_done, "steps": result.steps, "seconds": result.seconds,
                                     "width": args.gan_width, "seed": seed, "data": str(public),
                                     "history": result.history})


def add_public_classifier(cache: Path, stage: str) -> None:
    """A GAN trained while the public classifier was not there yet (the stages run in parallel) gets it now."""
    from hardener.gan import load_gan, save_gan_bundle
    from hardener.loading import load_model

    path, public = cache / stage / "gan.safetensors", cache / "public" / "model.safetensors"
    gan = load_gan(path)
    if gan.classifier is not None or not public.exists():
        return
    classifier = load_model(public)
    save_gan_bundle(path, gan.generator.cpu(), gan.critic.cpu(), classifier=classifier.model,
                    class_names=classifier.class_names, produced_by="benchmarks/train_models.py")
    print(f"[{time.strftime('%H:%M:%S')}] {stage}: the public classifier added to {path}", flush=True)


def _log(stage: str):
    from hardener.progress import ProgressEvent

    def log(event: ProgressEvent) -> None:
        if event.message:
            print(f"[{time.strftime('%H:%M:%S')}] {stage}: {event.message}", flush=True)

    return log


def print_table(cache: Path) -> None:
    for stage in ("gan", "gan-attacker"):
        path = cache / stage / "report.json"
        if not path.exists():
            continue
        g = json.loads(path.read_text())
        last = g["history"][-1] if g["history"] else {}
        print(f"\n{stage} (64 px, width {g['width']}, seed {g.get('seed', 0)}): {g['epochs']} epochs, "
              f"{g['steps']} critic steps, {g['seconds']:.0f} s, last Wasserstein estimate "
              f"{last.get('wasserstein', float('nan')):.3f}; samples in {cache / stage / 'samples'}")
    print("\n| model | architecture | train images | held-out images | held-out top-1 | epochs | wall time (s) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    for stage in ("target", "eval", "public"):
        path = cache / stage / "report.json"
        if not path.exists():
            continue
        r = json.loads(path.read_text())
        acc = r["final"].get("val_acc")
        print(f"| {stage} | {r['model']['arch']}/{r['model']['variant']} | {r['data']['train_images']} | "
              f"{r['data']['held_out_images']} | {'-' if acc is None else f'{acc:.1%}'} | {r['final']['epoch']} | "
              f"{r['seconds']:.0f} |")


if __name__ == "__main__":
    sys.exit(main())
