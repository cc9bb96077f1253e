"""How often protect's GAN makes each decoy, against what PLG-MI's GAN attacks recovered (session 32's "why").

    python benchmarks/results/lfw-s32/prevalence.py RUN...   # from the repository root

RUN: a folder with out/report.json (a protect run on the first LFW build) and, where run, plggan-a0/ and
plgad-a0/ (verify reports, attack seed 0). Prints the seeded pool's shares (hardener.defenses.decoy's
generated_shares on protect's GAN, the public classifier naming 2,048 samples), one line per (run, protected
class), and the recoveries summed over the pairs whose decoy protect's GAN makes at least COMMON_SHARE of the time
and over the others. Only protect's GAN is sampled, never the attacker's.
"""
import json
import sys
from pathlib import Path

import torch

from hardener.defenses.decoy import COMMON_SHARE, decoy_pool, generated_shares
from hardener.gan.bundle import load_gan
from hardener.loading import load_model

B = Path(".cache/benchmarks")


def recoveries(run: Path, name: str) -> dict[int, int] | None:
    """Per protected class, the reconstructions (of 15) the evaluation model named the person, or None."""
    path = run / name / "report.json"
    if not path.exists():
        return None
    h = json.loads(path.read_text())["attacks"][0]["hardened"]
    return {int(c): round(v * h["rows"] / len(h["top1_by_class"])) for c, v in h["top1_by_class"].items()}


def main(runs: list[Path]) -> None:
    gan = load_gan(B / "gan/gan.safetensors")
    public = load_model(B / "public/model.safetensors").model
    shares = generated_shares(gan.generator, gan.latent_dim, public, "cpu")
    pool = sorted(decoy_pool(range(public.num_classes), 16))  # rank_decoys' default pool
    print("pool shares:", ", ".join(f"{c}: {float(shares[c]):.3f}" for c in pool))
    totals = {True: [0, 0], False: [0, 0]}  # decoy made by protect's GAN -> [pairs, recovered]
    for run in runs:
        decoys = {int(c): int(d) for c, d in json.loads((run / "out/report.json").read_text())["decoys"].items()}
        found = [r for r in (recoveries(run, "plggan-a0"), recoveries(run, "plgad-a0")) if r is not None]
        for c, d in sorted(decoys.items()):
            made = float(shares[d]) >= COMMON_SHARE
            got = [r[c] for r in found]
            totals[made][0] += 1
            totals[made][1] += sum(got)
            print(f"{run}: class {c} decoy {d} share {float(shares[d]):.3f} recovered (plg-gan, plg-gan-adaptive) {got}")
    for made, (pairs, got) in totals.items():
        print(f"decoy {'made' if made else 'not made'} by protect's GAN: {pairs} pairs, {got} recovered")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main([Path(a) for a in sys.argv[1:]])
