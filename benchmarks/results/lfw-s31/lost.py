"""The protected people's held-out photos that FIRST names right and each OTHER model wrong: where each went and
its margin (own logit less the best other) under both, and the median change of all their margins. Session 31
read the decoy step's cost from it.

    python benchmarks/results/lfw-s31/lost.py FIRST.safetensors OTHER.safetensors ...   # from the repository root
"""
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "lfw-s30"))  # heldout.py
from heldout import held_out_logits  # noqa: E402

from hardener.defenses.decoy import class_margin  # noqa: E402


def main(paths: list[str]) -> None:
    y, protect, mine, logits = held_out_logits(paths)
    first = logits[0]
    before = class_margin(first, y)
    for path, other in zip(paths[1:], logits[1:]):
        lost = mine & (first.argmax(1) == y) & (other.argmax(1) != y)
        after = class_margin(other, y)
        shift = (after - before)[mine]
        print(f"{path}: {int(lost.sum())} of the protected people's {int(mine.sum())} photos lost against {paths[0]}; "
              f"their margins moved by {shift.median():.2f} (median; mean {shift.mean():.2f})")
        for i in torch.nonzero(lost).flatten().tolist():
            went = int(other[i].argmax())
            print(f"  class {int(y[i])} -> {went}{' (protected)' if went in protect else ''}: "
                  f"margin {before[i]:.2f} -> {after[i]:.2f}")


if __name__ == "__main__":
    main(sys.argv[1:])
