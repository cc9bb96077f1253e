"""Where protect's accuracy goes: three measurements behind docs/MEASUREMENTS.md, "Where the accuracy goes".

    python benchmarks/accuracy_cost.py control [--settings default:1e-4:1:1 slow:3e-5:1:1 ...]   # LFW
    python benchmarks/accuracy_cost.py flips MODEL.safetensors ...                               # LFW
    python benchmarks/accuracy_cost.py gan-drift [--weights 0 10]                                # synthetic
    python benchmarks/accuracy_cost.py lost DEMO_FOLDER [--hardened DIR]                         # the demo
    python benchmarks/accuracy_cost.py feature-drift DEMO_FOLDER [--hardened DIR ...]            # the demo
    python benchmarks/accuracy_cost.py feature-drift lfw --hardened DIR ... [--reference MODEL]  # LFW

control: protect's fine-tuning loop with no decoy term (EWC, the retain CE and the distillation on the real
private photos only, 3 x 60 steps at batch 32, as protect's defaults): how much held-out accuracy the loop
itself moves. A setting is NAME:LR:DISTILL:RETAIN.
flips: which held-out predictions a hardened model changed against the target, and how many of the lost
ones went to a protected class (models from `efficacy.py --save`).
gan-drift: on the synthetic world, protect for 10 steps with the `manifold` anchors at each weight, then the
mean change of the unprotected classes' logits, raw and less each image's common shift of them (the anchors'
KL divergence holds only the latter), and of all logits, and the share of changed argmax, on 128 GAN images
that were not anchors.
lost: on a `hardener demo` folder (its hardened model, or --hardened, a protect --out), the lost photos per
protected class: how many held-out photos of other people it took from the target's right answer, how often the
public classifier names those the class's decoy against the photos it did not take, the rise of the class's logit
on them, and the margin their own class had over it before; then the protected people's own lost photos
(docs/MEASUREMENTS.md, "Session 39").
feature-drift: on a `hardener demo` folder or `lfw` (benchmarks/train_models.py's models), how far each hardened
model (the demo's, or each --hardened) moved the penultimate features of the private training and held-out photos
from the target's (or --reference's: on a TL-DMI stack, the TL-DMI step's model, which the decoy step starts from
and --feature-hold holds), as protect's --feature-hold measures it (mean squared change over mean squared size),
with the mean cosine similarity and held-out accuracy, overall and of the protected people, and the held-out drift
of the protected people's photos and the others' apart (docs/MEASUREMENTS.md, "Session 41", "Session 42", "Session
43").
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]


def control(settings: list[str]) -> None:
    from worlds import load_world

    from hardener.data import load_dataset, to_model_input
    from hardener.defenses.decoy import DecoyConfig, _fisher_batches, distillation
    from hardener.defenses.ewc import EWCPenalty, diagonal_fisher
    from hardener.evaluate import accuracy, logits as _logits
    from hardener.loading import load_model

    world = load_world("lfw")
    target = load_model(world["target"]).model.eval()
    train, test = load_dataset(world["train"]), load_dataset(world["test"])
    x, y = to_model_input(test.images, target.spec.image_size), torch.from_numpy(test.labels)
    protect = world["protect_classes"]
    real_x, real_y = to_model_input(train.images, target.spec.image_size), torch.from_numpy(train.labels)
    teacher = _logits(target, real_x, "cpu")
    config = DecoyConfig()
    print(f"target: {accuracy(target, x, y):.1%} all, {accuracy(target, x, y, classes=protect):.1%} protected")
    print("| setting | lr | distill | retain | step | acc. all | acc. protected |\n| --- | --- | --- | --- | --- | --- | --- |")
    for setting in settings:
        name, lr, distill, retain = setting.split(":")
        lr, distill, retain = float(lr), float(distill), float(retain)
        model = copy.deepcopy(target).eval()  # eval: BatchNorm statistics frozen, as protect runs
        batches = _fisher_batches(model, None, 0, train, config, "cpu")  # protect's own Fisher sample
        ewc = EWCPenalty(model, diagonal_fisher(model, batches), config.lambda2)
        optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
        rng = torch.Generator().manual_seed(config.seed)
        for step in range(config.rounds * config.steps_per_round):
            rows = torch.randint(0, len(real_y), (config.batch_size,), generator=rng)
            logits = model(real_x[rows])
            loss = (config.omega * ewc.penalty(model) + retain * F.cross_entropy(logits, real_y[rows])
                    + distill * distillation(logits, teacher[rows]))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if (step + 1) % config.steps_per_round == 0:
                print(f"| {name} | {lr:g} | {distill:g} | {retain:g} | {step + 1} | {accuracy(model, x, y):.1%} | "
                      f"{accuracy(model, x, y, classes=protect):.1%} |", flush=True)


def flips(models: list[Path]) -> None:
    from worlds import load_world

    from hardener.data import load_dataset, to_model_input
    from hardener.evaluate import logits as _logits
    from hardener.loading import load_model

    world = load_world("lfw")
    protect = set(world["protect_classes"])
    test = load_dataset(world["test"])
    labels = torch.from_numpy(test.labels)

    def predictions(model) -> torch.Tensor:
        return _logits(model, to_model_input(test.images, model.spec.image_size), "cpu").argmax(1)

    base = predictions(load_model(world["target"]).model)
    print("| model | acc. all | changed | lost | lost to a protected class | gained |\n| --- | --- | --- | --- | --- | --- |")
    for path in models:
        new = predictions(load_model(path).model)
        changed = new != base
        lost, gained = changed & (base == labels), changed & (new == labels)
        to_protected = sum(int(c) in protect for c in new[lost])
        print(f"| {path.name} | {float((new == labels).float().mean()):.1%} | {int(changed.sum())} | {int(lost.sum())} | "
              f"{to_protected} | {int(gained.sum())} |")


def lost(folder: Path, hardened: Path | None) -> None:
    import json

    from hardener.data import load_dataset, to_model_input
    from hardener.evaluate import logits
    from hardener.loading import load_model

    hardened_dir = hardened or folder / "hardened"
    decoys = {int(c): int(d) for c, d in json.loads((hardened_dir / "report.json").read_text())["decoys"].items()}
    models = {name: load_model(path).model for name, path in (
        ("target", folder / "target" / "model.safetensors"), ("hardened", hardened_dir / "hardened.safetensors"),
        ("public", folder / "public" / "model.safetensors"))}
    test = load_dataset(str(folder / "data" / "private_test.npz"))
    labels = torch.from_numpy(test.labels)
    scores = {name: logits(model, to_model_input(test.images, model.spec.image_size), "cpu")
              for name, model in models.items()}
    before, after = scores["target"].argmax(1), scores["hardened"].argmax(1)
    lost_rows = (before == labels) & (after != labels)
    named = scores["public"].argmax(1)
    own = scores["target"].gather(1, labels[:, None]).squeeze(1)
    print(f"{folder}: held-out {float((before == labels).float().mean()):.1%} -> "
          f"{float((after == labels).float().mean()):.1%}; {int(lost_rows.sum())} photos lost, "
          f"{int((lost_rows & torch.isin(after, torch.tensor(list(decoys)))).sum())} of them to a protected class")
    print("| protected | decoy | others' photos it took | named the decoy: taken / kept | logit rise: taken / all "
          "others | own margin before: taken / kept |")
    print("|---|---|---|---|---|---|")
    for c, d in decoys.items():
        others = labels != c
        taken, kept = lost_rows & (after == c), others & ~lost_rows
        rise = scores["hardened"][:, c] - scores["target"][:, c]
        margin = own - scores["target"][:, c]
        print(f"| {c} | {d} | {int(taken.sum())} | {_mean(named[taken] == d):.0%} / {_mean(named[kept] == d):.0%} | "
              f"{_mean(rise[taken]):.2f} / {_mean(rise[others]):.2f} | {_mean(margin[taken]):.2f} / "
              f"{_mean(margin[kept]):.2f} |")
        print(f"  class {c}'s own photos lost: {int((lost_rows & (labels == c)).sum())} of {int((labels == c).sum())}")


def feature_drift_table(folder: Path, hardened: list[Path], reference: Path | None = None) -> None:
    from hardener.data import load_dataset, to_model_input
    from hardener.defenses.decoy import feature_drift
    from hardener.evaluate import accuracy, features
    from hardener.loading import load_model

    if str(folder) == "lfw":
        from worlds import load_world

        world = load_world("lfw")
        target, protect = world["target"], world["protect_classes"]
        splits = {"train": world["train"], "test": world["test"]}
    else:
        target = folder / "target" / "model.safetensors"
        splits = {split: folder / "data" / f"private_{split}.npz" for split in ("train", "test")}
        protect = [int(c) for c in json.loads((folder / "hardened" / "report.json").read_text())["decoys"]]
    start = load_model(reference or target).model
    photos = {split: load_dataset(str(path)) for split, path in splits.items()}
    inputs = {split: to_model_input(d.images, start.spec.image_size) for split, d in photos.items()}
    before = {split: features(start, x) for split, x in inputs.items()}
    labels = torch.from_numpy(photos["test"].labels)
    theirs = torch.isin(labels, torch.tensor(protect))
    print(f"drift from {reference or target}; protected classes {protect}")
    print("| hardened | drift: train / held out | held-out drift: protected / others | cosine: train / held out "
          "| held-out accuracy: all / protected |")
    print("|---|---|---|---|---|")
    for path in hardened or [folder / "hardened"]:
        model = load_model(path / "hardened.safetensors" if path.is_dir() else path).model
        after = {split: features(model, x) for split, x in inputs.items()}
        drift = [float(feature_drift(after[s], before[s])) for s in inputs]
        groups = [float(feature_drift(after["test"], before["test"], rows)) for rows in (theirs, ~theirs)]
        cosine = [float(F.cosine_similarity(after[s], before[s]).mean()) for s in inputs]
        held_out = accuracy(model, inputs["test"], labels)
        mine = accuracy(model, inputs["test"], labels, classes=protect)
        print(f"| {path} | {drift[0]:.3f} / {drift[1]:.3f} | {groups[0]:.3f} / {groups[1]:.3f} | {cosine[0]:.3f} / "
              f"{cosine[1]:.3f} | {held_out:.1%} / {mine:.1%} |")


def _mean(values: torch.Tensor) -> float:
    return float(values.float().mean()) if len(values) else float("nan")


def gan_drift(weights: list[float]) -> None:
    from worlds import load_world

    from hardener.data import load_dataset
    from hardener.defenses.decoy import DecoyConfig, protect_decoy
    from hardener.gan import load_gan
    from hardener.loading import load_model

    world = load_world("synthetic")
    target, gan = load_model(world["target"]).model, load_gan(world["gan"])
    data = load_dataset(world["train"])
    z = torch.randn(128, gan.latent_dim, generator=torch.Generator().manual_seed(123))  # not the anchors' seed
    with torch.no_grad():
        images = gan.generator.eval()(z)
        original = target.eval()(images)
    others = [c for c in range(original.shape[1]) if c not in world["protect_classes"]]
    print("| manifold | mean change, unprotected logits | the same, common shift removed | mean change, all logits "
          "| argmax changed |\n| --- | --- | --- | --- | --- |")
    for weight in weights:
        config = DecoyConfig(rounds=1, steps_per_round=10, samples_per_class=2, inversion_steps=4, fisher_samples=16,
                             manifold=weight, manifold_samples=128)
        hardened = protect_decoy(target, gan.generator, gan.critic, gan.classifier, world["protect_classes"], [5, 2],
                                 latent_dim=gan.latent_dim, data=data, config=config).model
        with torch.no_grad():
            logits = hardened.eval()(images)
        change = logits - original
        held = change[:, others]
        centred = float((held - held.mean(1, keepdim=True)).abs().mean())
        print(f"| {weight:g} | {float(held.abs().mean()):.2f} | {centred:.2f} | {float(change.abs().mean()):.2f} | "
              f"{float((logits.argmax(1) != original.argmax(1)).float().mean()):.0%} |", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("control").add_argument("--settings", nargs="+", default=["default:1e-4:1:1", "slower:3e-5:1:1",
                                                                             "no-retain:1e-4:1:0"])
    sub.add_parser("flips").add_argument("models", type=Path, nargs="+")
    sub.add_parser("gan-drift").add_argument("--weights", type=float, nargs="+", default=[0.0, 10.0])
    demo = sub.add_parser("lost")
    demo.add_argument("folder", type=Path, help="a `hardener demo --out` folder")
    demo.add_argument("--hardened", type=Path, default=None, help="a protect --out folder (default: the demo's)")
    drift = sub.add_parser("feature-drift")
    drift.add_argument("folder", type=Path, help="a `hardener demo --out` folder, or lfw")
    drift.add_argument("--hardened", type=Path, nargs="*", default=[],
                       help="protect --out folders or model files (default: the demo's)")
    drift.add_argument("--reference", type=Path, default=None,
                       help="the model to measure the drift from (default: the target; on a stack, its TL-DMI step)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "benchmarks"))
    if args.mode == "control":
        control(args.settings)
    elif args.mode == "flips":
        flips(args.models)
    elif args.mode == "lost":
        lost(args.folder, args.hardened)
    elif args.mode == "feature-drift":
        feature_drift_table(args.folder, args.hardened, args.reference)
    else:
        gan_drift(args.weights)


if __name__ == "__main__":
    main()
