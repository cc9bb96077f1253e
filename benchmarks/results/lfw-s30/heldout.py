"""Held-out accuracy (all / protected) of LFW model files, and against the first file: photos lost (to a protected
class, of the protected people) and gained. Session 30 used it on each TL-DMI step and its decoy step.

    python benchmarks/results/lfw-s30/heldout.py FIRST.safetensors OTHER.safetensors ...   # from the repository root
"""
import sys

import torch

sys.path.insert(0, "benchmarks")  # worlds.py
from worlds import load_world  # noqa: E402

from hardener.data import load_dataset, to_model_input  # noqa: E402
from hardener.evaluate import logits as _logits  # noqa: E402
from hardener.loading import load_model  # noqa: E402


def held_out_logits(paths: list[str]) -> tuple[torch.Tensor, set[int], torch.Tensor, list[torch.Tensor]]:
    """The LFW held-out labels, the protected classes, which photos are the protected people's, and each model's
    logits on the held-out photos (lfw-s31/lost.py reads them too)."""
    world = load_world("lfw")
    test = load_dataset(world["test"])
    y = torch.from_numpy(test.labels).long()
    protect = set(world["protect_classes"])
    mine = torch.tensor([int(c) in protect for c in y])
    logits = [_logits(m, to_model_input(test.images, m.spec.image_size), "cpu")
              for m in (load_model(p).model for p in paths)]
    return y, protect, mine, logits


def main(paths: list[str]) -> None:
    y, protect, mask, logits = held_out_logits(paths)
    first = None
    for path, predicted in zip(paths, (z.argmax(1) for z in logits)):
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
