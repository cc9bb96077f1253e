"""decoy_pairs.py OUT.pt [SECOND.safetensors]: session 51. Is Schroeder's leak set by his decoy before any defense?
The 16 decoy candidates' inversions through protect's GAN (the public classifier inverted as rank_decoys inverts it:
protect's first preset, seed 7; 4 restarts here), and each protected person's median margin on each candidate's
images by the original target, the evaluation model (a diagnostic only) and, when given, another recogniser; first,
the share of the 64 candidate images each of them names each protected person. Reuses OUT.pt's images when it exists.
    python benchmarks/results/lfw-s51/decoy_pairs.py .cache/s51/pairs.pt
"""
import sys
from pathlib import Path

import numpy as np
import torch

from hardener.audit.metrics import class_margins
from hardener.defenses.decoy import DecoyConfig, _inverter, decoy_pool
from hardener.evaluate import logits
from hardener.gan.bundle import load_gan
from hardener.loading import load_model
from hardener.progress import no_progress

B = Path(".cache/benchmarks")
PROTECT = [6, 18, 27, 31, 67]


def candidate_images(out: Path) -> dict:
    if out.exists():
        return torch.load(out)
    public = load_model(B / "public" / "model.safetensors").model
    gan = load_gan(B / "gan" / "gan.safetensors")
    pool = decoy_pool(list(range(public.num_classes)), 16)
    invert = _inverter(gan.generator, gan.critic, gan.latent_dim, DecoyConfig(), "cpu", no_progress)
    inverted = invert(public, pool, seed=7, restarts=4, task="decoy candidates", family=False)
    saved = {"pool": pool, "images": inverted.images.detach(), "targets": inverted.targets}
    torch.save(saved, out)
    return saved


def main(out: Path, second: str | None) -> None:
    saved = candidate_images(out)
    pool, x, t = saved["pool"], saved["images"], saved["targets"]
    judges = {"target": B / "target" / "model.safetensors", "eval": B / "eval" / "model.safetensors"}
    judges.update({"second": Path(second)} if second else {})
    table = {}
    for name, path in judges.items():
        z = logits(load_model(path).model, x, "cpu")
        named = {c: f"{100 * float((z.argmax(1) == c).float().mean()):.1f} %" for c in PROTECT}
        print(f"{name}: share of the {len(z)} candidate images named each protected person: {named}")
        for c in PROTECT:
            margins = class_margins(z, torch.full((len(z),), c))
            table[name, c] = [float(margins[t == d].median()) for d in pool]
    print("candidates", pool)
    for c in PROTECT:
        print(f"protected {c}")
        for name in judges:
            print(f"  {name:7s}", " ".join(f"{v:6.1f}" for v in table[name, c]))
    evaluated = np.array([table["eval", c] for c in PROTECT])
    for name in judges:
        if name != "eval":
            mine = np.array([table[name, c] for c in PROTECT])
            pearson = np.corrcoef(mine.ravel(), evaluated.ravel())[0, 1]
            print(f"{name} against eval: Pearson over the {mine.size} pairs {pearson:.2f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None)
