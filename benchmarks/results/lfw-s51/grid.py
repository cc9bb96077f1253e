"""grid.py OUT.png NAME=OUT.pt...: session 51. One row per file of reconstruct.py: Gerhard Schroeder's (class 18)
reconstructions, the evaluation model's hits first, four per attack in the order of the five attacks.
    python benchmarks/results/lfw-s51/grid.py benchmarks/results/lfw-s51/schroeder.png \\
        target=.cache/s51/look-target.pt DX3=.cache/s51/look-DX3.pt E4=.cache/s51/look-E4.pt
"""
import sys

import torch
import torchvision
from PIL import Image

PER_ATTACK, CLASS = 4, 18


def row(path: str) -> torch.Tensor:
    images = []
    for r in torch.load(path).values():
        mine = (r["targets"] == CLASS).nonzero().flatten()
        order = mine[torch.argsort(r["hit"][mine].int(), descending=True, stable=True)][:PER_ATTACK]
        images.append(r["images"][order].float())
    return torch.cat(images)


if __name__ == "__main__":
    rows = [row(item.split("=", 1)[1]) for item in sys.argv[2:]]
    grid = torchvision.utils.make_grid(torch.cat(rows), nrow=len(rows[0]), padding=2)
    pixels = grid.mul(255).round().clamp(0, 255).byte().permute(1, 2, 0).numpy()
    Image.fromarray(pixels).quantize(256).save(sys.argv[1], optimize=True)  # a 256-colour palette: a third the size
    print(sys.argv[1], "rows:", ", ".join(item.split("=", 1)[0] for item in sys.argv[2:]))
