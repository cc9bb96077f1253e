"""The protected people's held-out photos that FIRST names right and each OTHER model wrong: where each went and
its margin (own logit less the best other) under both, and
the median change of all their margins. Session 31 read the decoy step's cost from it.

    python benchmarks/results/lfw-s31/lost.py FIRST.safetensors OTHER.safetensors ...   # from the repository root
"""
import sys

import torch

sys.path.insert(0, "benchmarks")  # worlds.py
from worlds import load_world  # noqa: E402

from hardener.data import load_dataset, to_model_input  # noqa: E402
from hardener.defenses.decoy import _logits  # noqa: E402
from hardener.loading import load_model  # noqa: E402


def margins(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    own = logits.gather(1, y[:, None]).squeeze(1)
    return own - logits.scatter(1, y[:, None], float("-inf")).max(1).values


def main(paths: list[str]) -> None:
    world = load_world("lfw")
    test = load_dataset(world["test"])
    y = torch.from_numpy(test.labels).long()
    protect = set(world["protect_classes"])
    mine = torch.tensor([int(c) in protect for c in y])
    logits = [_logits(m, to_model_input(test.images, m.spec.image_size), "cpu")
              for m in (load_model(p).model for p in paths)]
    first = logits[0]
    for path, other in zip(paths[1:], logits[1:]):
        lost = mine & (first.argmax(1) == y) & (other.argmax(1) != y)
        before, after = margins(first, y), margins(other, y)
        shift = (after - before)[mine]
        print(f"{path}: {int(lost.sum())} of the protected people's {int(mine.sum())} photos lost against {paths[0]}; "
              f"their margins moved by {shift.median():.2f} (median; mean {shift.mean():.2f})")
        for i in torch.nonzero(lost).flatten().tolist():
            went = int(other[i].argmax())
            print(f"  class {int(y[i])} -> {went}{' (protected)' if went in protect else ''}: "
                  f"margin {before[i]:.2f} -> {after[i]:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
