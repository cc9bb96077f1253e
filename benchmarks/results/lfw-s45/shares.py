"""Session 45: does how often a GAN makes a decoy's face predict whether plg-gan lands on that decoy?

For every (model, protected class) judged in sessions 42-44 (same LFW build), the decoy protect chose, the share of
2,048 seeded samples of protect's GAN the public classifier names that decoy (`generated_shares`, what `--decoy-choice
common` thresholds at 1 %), the same share for the attacker's GAN (analysis only: no defense may look at it), and
plg-gan's and plg-gan-adaptive's reconstructions of the class on the decoy and recovered (of 15).
    python benchmarks/results/lfw-s45/shares.py          # from the repository root, after train_models.py
"""
import json
from pathlib import Path

import torch
from scipy.stats import spearmanr

from hardener.defenses.decoy import decoy_pool, generated_shares
from hardener.gan import load_gan
from hardener.loading import load_model

B = Path(".cache/benchmarks")
R = Path("benchmarks/results")
MODELS = {  # name -> (protect report, judge rows)
    "s42 def0": ("lfw-s42/protect/def0.json", "lfw-s42/judge/def0.json"),
    "s42 fh4": ("lfw-s42/protect/fh4.json", "lfw-s42/judge/fh4.json"),
    "s43 def1": ("lfw-s43/protect/def1.json", "lfw-s43/judge/def1.json"),
    "s43 o4": ("lfw-s43/protect/o4.json", "lfw-s43/judge/o4.json"),
    "s43 o16": ("lfw-s43/protect/o16.json", "lfw-s43/judge/o16.json"),
    "s43 o4s1": ("lfw-s43/protect/o4s1.json", "lfw-s43/judge/o4s1.json"),
    "s44 p8s0": ("lfw-s44/protect/p8s0.json", "lfw-s44/judge/p8s0.json"),
    "s44 p8s1": ("lfw-s44/protect/p8s1.json", "lfw-s44/judge/p8s1.json"),
}
PLG = ("plg-gan", "plg-gan-adaptive")


def shares_of(bundle: Path, public) -> torch.Tensor:
    gan = load_gan(bundle)
    return generated_shares(gan.generator, gan.latent_dim, public, "cpu")


def spearman(a: list[float], b: list[float]) -> float:
    """Rank correlation with tied values sharing their mean rank (many cells tie: 15 of 15 on decoy 42)."""
    return float(spearmanr(a, b).statistic)


def main() -> None:
    torch.set_num_threads(1)
    public = load_model(B / "public" / "model.safetensors").model
    own = shares_of(B / "gan" / "gan.safetensors", public)
    attacker = shares_of(B / "gan-attacker" / "gan.safetensors", public)
    pool = decoy_pool(list(range(public.num_classes)), 16)
    print("pool (automatic decoys without photos):", pool)
    print("| public class | protect's GAN % | attacker's GAN % |\n|---|---|---|")
    for d in sorted(pool, key=lambda d: -float(own[d])):
        print(f"| {d} | {100 * float(own[d]):.2f} | {100 * float(attacker[d]):.2f} |")
    print("\n| model | class | decoy | protect's GAN % | attacker's GAN % | plg-gan on decoy | recovered | "
          "plg-gan-adaptive on decoy | recovered |\n|---|---|---|---|---|---|---|---|---|")
    xs, ys, zs = [], [], []
    for name, (report, judge) in MODELS.items():
        decoys = json.loads((R / report).read_text())["decoys"]
        rows = {r["preset"]: r["hardened"] for r in json.loads((R / judge).read_text())["rows"]}
        for c, d in decoys.items():
            cells = []
            for preset in PLG:
                h = rows[preset]
                cells += [round(15 * h["decoy_hit_rate"][c]), round(15 * h["top1_by_class"][c])]
            print(f"| {name} | {c} | {d} | {100 * float(own[d]):.2f} | {100 * float(attacker[d]):.2f} | "
                  + " | ".join(str(x) for x in cells) + " |")
            xs.append(float(own[d]))
            zs.append(float(attacker[d]))
            ys.append(cells[0] + cells[2])
    print(f"\nSpearman, protect's GAN share vs plg-gan + adaptive on the decoy (of 30): {spearman(xs, ys):.2f} "
          f"over {len(xs)} cells; attacker's GAN share: {spearman(zs, ys):.2f}; the two shares: {spearman(xs, zs):.2f}")


if __name__ == "__main__":
    main()
