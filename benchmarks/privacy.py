"""Privacy of the three defenses on the LFW private half, in one table.

    python benchmarks/train_models.py            # first: target, evaluation model, public model, GAN
    python benchmarks/privacy.py [--epochs 25] [--epsilons 1 10 100] [--rows ...] [--train-only]

Rows: the undefended target; TL-DMI (`protect --method tl-dmi` from the public model, groups up to
--freeze-until frozen; a row `tl-dmi:GROUP` freezes up to GROUP instead, e.g. tl-dmi:layer4 trains the head only); the decoy defense (`protect`, defaults, the 5 private identities with the most images);
models trained on VAE + metric-privacy synthetic data (`synthesize`, then `train classifier`) at each epsilon.
Columns: held-out accuracy; GMI attack top-1 / top-5 on the same 5 identities (preset gmi capped at
--attack-steps, judged by the FaceNet evaluation model); membership inference (members = private-train,
non-members = private-test) by the loss/confidence threshold attacks: the larger AUC and its TPR at 1 % FPR.

Every trained model and every row's numbers are cached under --cache/privacy, so a rerun only does what is
missing (delete a row's folder to redo it). Run with OMP_NUM_THREADS=1 beside other jobs.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from worlds import interrupted, lfw_world

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cache", type=Path, default=ROOT / ".cache" / "benchmarks")
    parser.add_argument("--epochs", type=int, default=25, help="epochs of every model trained here (the target had 25)")
    parser.add_argument("--epsilons", type=float, nargs="+", default=[1.0, 10.0, 100.0])
    parser.add_argument("--freeze-until", default="layer3")
    parser.add_argument("--vae-epochs", type=int, default=20)
    parser.add_argument("--attack-steps", type=int, default=200)
    parser.add_argument("--restarts", type=int, default=2)
    parser.add_argument("--rows", nargs="+", default=None,
                        help="undefended, tl-dmi, tl-dmi:GROUP, protect, eps=E (default: all but tl-dmi:GROUP)")
    parser.add_argument("--train-only", action="store_true", help="train the rows' models, measure nothing")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()

    world = {**lfw_world(args.cache), "out": args.cache / "privacy", "vae": args.cache / "vae" / "vae.safetensors"}
    rows = args.rows or ["undefended", "tl-dmi", "protect", *[f"eps={e:g}" for e in args.epsilons]]
    results = []
    for row in rows:
        model_path = train_row(row, world, args)
        if not args.train_only:
            results.append(measure_row(row, model_path, world, args))
    if results:
        print_table(results, args)


def train_row(row: str, world: dict, args: argparse.Namespace) -> Path:
    """The row's model file, trained (and cached) if needed."""
    out = world["out"] / row
    if row == "undefended":
        return world["target"]
    done = out / ("hardened.safetensors" if row.startswith(("tl-dmi", "protect")) else "model.safetensors")
    if done.exists():
        return done
    log(f"training row {row}")
    if row.startswith("tl-dmi"):
        from hardener.jobs.protect_transfer import TransferJob, run_transfer
        from hardener.train import TrainConfig

        run_transfer(TransferJob(pretrained=world["public"], data=str(world["train"]), out=out,
                                 freeze_until=row.partition(":")[2] or args.freeze_until, model=world["target"],
                                 val=str(world["test"]),
                                 config=TrainConfig(epochs=args.epochs, batch_size=64, lr=1e-3), device=args.device,
                                 resume=interrupted(out)), progress=progress(row))
    elif row == "protect":
        from hardener.jobs.protect import ProtectJob, run_protect

        run_protect(ProtectJob(model=world["target"], gan=world["gan"], protect=[str(c) for c in world["protect_classes"]],
                               out=out, data=str(world["train"]), device=args.device, resume=interrupted(out)), progress(row))
    elif row.startswith("eps="):
        train_on_synthetic(float(row[4:]), out, world, args)
    else:
        sys.exit(f"unknown row {row!r}")
    return done


def train_on_synthetic(epsilon: float, out: Path, world: dict, args: argparse.Namespace) -> None:
    """One VAE for every epsilon (cached), a synthetic set per epsilon, a classifier trained on it alone."""
    from hardener.jobs.synthesize import SynthesizeJob, run_synthesize
    from hardener.jobs.train_classifier import ClassifierJob, run_classifier_job
    from hardener.train import TrainConfig

    vae = world["vae"]
    if not vae.exists():
        run_synthesize(SynthesizeJob(data=str(world["train"]), epsilon=epsilon, out=vae.parent, epochs=args.vae_epochs,
                                     image_size=64, device=args.device), progress("vae"))
    synthetic = out / "synthetic"
    if not (synthetic / "synthetic.npz").exists():
        run_synthesize(SynthesizeJob(data=str(world["train"]), epsilon=epsilon, out=synthetic, vae=vae, noise_seed=0,
                                     device=args.device), progress("synthesize"))  # seeded: a benchmark, not a release
    run_classifier_job(ClassifierJob(data=str(synthetic / "synthetic.npz"), arch="resnet", variant="resnet18",
                                     image_size=64, out=out, val=str(world["test"]), val_fraction=0.0,
                                     device=args.device, resume=interrupted(out),
                                     config=TrainConfig(epochs=args.epochs, batch_size=64, seed=0)), progress("classifier"))


def measure_row(row: str, model_path: Path, world: dict, args: argparse.Namespace) -> dict:
    cached = world["out"] / "measured" / f"{row}.json"
    if cached.exists():
        stored = json.loads(cached.read_text())
        if (stored.get("gmi_restarts"), stored.get("gmi_steps_cap")) == (args.restarts, args.attack_steps):
            return stored
    import torch

    from hardener.attacks.presets import get_attack
    from hardener.audit.metrics import attack_metrics
    from hardener.audit.mia import mia_auc
    from hardener.data import load_dataset, to_model_input
    from hardener.files import write_json
    from hardener.gan import load_gan
    from hardener.loading import load_model
    from hardener.evaluate import accuracy

    from hardener.device import resolve_device

    log(f"measuring row {row}")
    device = resolve_device(args.device)
    started = time.perf_counter()
    model = load_model(model_path).model
    train, test, private = (load_dataset(world[k]) for k in ("train", "test", "private"))
    x, y = to_model_input(test.images, model.spec.image_size), torch.from_numpy(test.labels)
    gan = load_gan(world["gan"])
    attack = get_attack("gmi")
    steps = min(attack.config.steps, args.attack_steps)
    inversion = attack.run(gan.generator, gan.critic, model, world["protect_classes"], latent_dim=gan.latent_dim,
                           seed=5000, steps=steps, restarts=args.restarts, device=device)
    metrics = attack_metrics(inversion, load_model(world["eval"]).model, private, device=device)
    mia = mia_auc(model, train, test, device=device)
    strongest = mia["max_auc_attack"]
    best = mia["attacks"][strongest]
    result = {"row": row, "accuracy": accuracy(model, x, y, device=device), "gmi_top1": metrics.top1,
              "gmi_top5": metrics.top5, "gmi_steps": steps, "gmi_steps_cap": args.attack_steps,
              "gmi_restarts": args.restarts, "mia_auc": mia["max_auc"],
              "mia_tpr_at_1pct_fpr": best["tpr_at_fpr"]["0.01"], "mia_attack": strongest, "mia": mia,
              "seconds": round(time.perf_counter() - started, 1), "model": str(model_path)}
    cached.parent.mkdir(parents=True, exist_ok=True)
    write_json(cached, result)
    return result


def print_table(results: list[dict], args: argparse.Namespace) -> None:
    print(f"\n| model | held-out top-1 | GMI top-1 / top-5 ({results[0]['gmi_steps']} steps, 5 ids x {args.restarts}) "
          "| MIA AUC (strongest threshold attack, max(AUC, 1 - AUC)) | its TPR @ 1 % FPR |")
    print("| --- | --- | --- | --- | --- |")
    for r in results:
        print(f"| {r['row']} | {r['accuracy']:.1%} | {r['gmi_top1']:.0%} / {r['gmi_top5']:.0%} | {r['mia_auc']:.3f} "
              f"({r['mia_attack']}) | {r['mia_tpr_at_1pct_fpr']:.1%} |")


def progress(stage: str):
    from hardener.progress import ProgressEvent

    def report(event: ProgressEvent) -> None:
        if event.message:
            log(f"{stage}: {event.message}")

    return report


def log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


if __name__ == "__main__":
    main()
