"""Held-out accuracy (all / protected) of LFW model files, and against the first file: photos lost (to a protected
class, of the protected people) and gained. Session 30 used it on each TL-DMI step and its decoy step.

    python benchmarks/results/lfw-s30/heldout.py FIRST.safetensors OTHER.safetensors ...   # from the repository root
"""
import sys

import torch

sys.path.insert(0, "benchmarks")  # worlds.py
from worlds import load_world  # noqa: E402

from hardener.data import load_dataset, to_model_input  # noqa: E402
from hardener.defenses.decoy import _logits  # noqa: E402
from hardener.loading import load_model  # noqa: E402


def main(paths: list[str]) -> None:
    world = load_world("lfw")
    test = load_dataset(world["test"])
    y = torch.from_numpy(test.labels)
    protect = set(world["protect_classes"])
    mask = torch.tensor([int(c) in protect for c in y])
    first = None
    for path in paths:
        model = load_model(path).model
        predicted = _logits(model, to_model_input(test.images, model.spec.image_size), "cpu").argmax(1)
        line = f"{path}: {(predicted == y).float().mean():.1%} / {(predicted[mask] == y[mask]).float().mean():.1%}"
        if first is None:
            first = predicted
        else:
            lost = (first == y) & (predicted != y)
            line += (f"; against the first: lost {int(lost.sum())} (to a protected class "
                     f"{sum(int(c) in protect for c in predicted[lost])}, of the protected people "
                     f"{int((lost & mask).sum())}), gained {int(((first != y) & (predicted == y)).sum())}")
        print(line)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(sys.argv[1:])
