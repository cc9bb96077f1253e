"""Where the held-out accuracy goes: the photos a hardened demo model gets wrong that the target got right.

    python benchmarks/lost_photos.py DEMO_FOLDER [--hardened DIR]    # default: DEMO_FOLDER/hardened

Per protected class: how many held-out photos of other people it took from the target's right answer, how
often the public classifier names those photos as the class's decoy against the photos it did not take (a
decoy's look-alikes are what its lift takes), the rise of the class's logit on them, and the margin their own
class had over it before. Then the lost photos of the protected people themselves. docs/MEASUREMENTS.md,
"Session 39".
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("folder", type=Path, help="a `hardener demo --out` folder")
    parser.add_argument("--hardened", type=Path, default=None, help="a protect --out folder (default: the demo's)")
    args = parser.parse_args()

    import torch

    from hardener.data import load_dataset, to_model_input
    from hardener.evaluate import logits
    from hardener.loading import load_model

    hardened_dir = args.hardened or args.folder / "hardened"
    decoys = {int(c): int(d) for c, d in json.loads((hardened_dir / "report.json").read_text())["decoys"].items()}
    models = {name: load_model(path).model for name, path in (
        ("target", args.folder / "target" / "model.safetensors"), ("hardened", hardened_dir / "hardened.safetensors"),
        ("public", args.folder / "public" / "model.safetensors"))}
    test = load_dataset(str(args.folder / "data" / "private_test.npz"))
    labels = torch.from_numpy(test.labels)
    scores = {name: logits(model, to_model_input(test.images, model.spec.image_size), "cpu")
              for name, model in models.items()}
    before, after = scores["target"].argmax(1), scores["hardened"].argmax(1)
    lost = (before == labels) & (after != labels)
    named = scores["public"].argmax(1)
    own = scores["target"].gather(1, labels[:, None]).squeeze(1)
    print(f"{args.folder}: held-out {float((before == labels).float().mean()):.1%} -> "
          f"{float((after == labels).float().mean()):.1%}; {int(lost.sum())} photos lost, "
          f"{int((lost & torch.isin(after, torch.tensor(list(decoys)))).sum())} of them to a protected class")
    print("| protected | decoy | others' photos it took | named the decoy: taken / kept | logit rise: taken / all "
          "others | own margin before: taken / kept |")
    print("|---|---|---|---|---|---|")
    for c, d in decoys.items():
        others = labels != c
        taken, kept = lost & (after == c), others & ~lost
        rise = scores["hardened"][:, c] - scores["target"][:, c]
        margin = own - scores["target"][:, c]
        print(f"| {c} | {d} | {int(taken.sum())} | {_mean(named[taken] == d):.0%} / {_mean(named[kept] == d):.0%} | "
              f"{_mean(rise[taken]):.2f} / {_mean(rise[others]):.2f} | {_mean(margin[taken]):.2f} / "
              f"{_mean(margin[kept]):.2f} |")
        print(f"  class {c}'s own photos lost: {int((lost & (labels == c)).sum())} of {int((labels == c).sum())}")


def _mean(values) -> float:
    return float(values.float().mean()) if len(values) else float("nan")


if __name__ == "__main__":
    main()
