"""Run from the checkout's root after benchmarks/train_models.py: 4,000 random images of each GAN, how many the
evaluation model names each protected class, and what the public classifier (in the GAN bundle) names the
images the evaluation model calls Serena Williams (class 67)."""
import collections

import torch

from hardener.device import evaluating
from hardener.gan.bundle import load_gan
from hardener.loading import load_model

B = ".cache/benchmarks"
evaluation = load_model(f"{B}/eval/model.safetensors").model
for stage in ("gan", "gan-attacker"):
    gan = load_gan(f"{B}/{stage}/gan.safetensors")
    public = gan.classifier
    torch.manual_seed(0)
    named, public_named = collections.Counter(), collections.Counter()
    with torch.no_grad(), evaluating(evaluation, "cpu"), evaluating(public, "cpu"):
        for _ in range(8):
            x = gan.generator(torch.randn(500, gan.latent_dim))
            e = evaluation(x).argmax(1)
            named.update(e.tolist())
            public_named.update(public(x[e == 67]).argmax(1).tolist())
    print(stage, {c: named[c] for c in (6, 18, 27, 31, 67)}, "of 4000; public classifier on the 67s:",
          [(gan.class_names[k] if gan.class_names else k, n) for k, n in public_named.most_common(4)])
