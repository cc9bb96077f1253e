"""Run from the checkout's root after benchmarks/train_models.py: the share of the real photos of Venus Williams
(a public identity of the attacker's GAN half) that each MODEL names Serena Williams (private class 67), and of
every other photo of that half, for scale."""
import sys

import numpy as np
import torch

from hardener.data.datasets import to_model_input
from hardener.evaluate import accuracy
from hardener.loading import load_model

half = np.load(".cache/benchmarks/splits/public-halves/public.npz")
venus = torch.from_numpy(half["labels"] == [str(n) for n in half["names"]].index("Venus_Williams"))
for path in sys.argv[1:]:
    model = load_model(path)
    x = to_model_input(half["images"], model.spec.image_size)
    serena = torch.full((len(x),), 67)
    top1, top5 = accuracy(model.model, x[venus], serena[venus]), accuracy(model.model, x[venus], serena[venus], top=5)
    others = accuracy(model.model, x[~venus], serena[~venus])
    print(f"{path}: Venus photos ({int(venus.sum())}) named Serena top-1 {top1:.0%} top-5 {top5:.0%}; "
          f"other public photos ({int((~venus).sum())}) {others:.1%}")
