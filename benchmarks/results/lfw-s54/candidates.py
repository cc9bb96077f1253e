"""candidates.py DIR...: session 54. The decoy ranking protect computed for a hardened LFW folder made before
report.json recorded it (`decoy_candidates`, session 53): rank_decoys on the folder's TL-DMI model, with the
folder's own config, exactly as protect_decoy calls it. Checks that the ranking gives back the folder's decoys,
then prints each class's ranking and protect's last-round decoy hit rate. Reads nothing of the judge's.
    python benchmarks/results/lfw-s54/candidates.py .cache/s45/DX2/out .cache/s45/DX3/out
"""
import json
import sys
from dataclasses import fields
from pathlib import Path

import torch

from hardener.defenses.decoy import DecoyConfig, _inverter, distinct_decoys, generated_shares, rank_decoys
from hardener.gan.bundle import load_gan
from hardener.loading import load_model

B = Path(".cache/benchmarks")


def ranking_of(folder: Path) -> dict:
    report = json.loads((folder / "report.json").read_text())
    names = {f.name for f in fields(DecoyConfig)}
    config = DecoyConfig(**{k: v for k, v in report["config"].items() if k in names})
    assert config.decoy_choice == "common" and config.decoy_pool_seed == 0, "only the default's ranking is redone"
    model = load_model(folder / "tl-dmi" / "hardened.safetensors").model.eval()
    public = load_model(B / "public" / "model.safetensors").model.eval()
    gan = load_gan(B / "gan" / "gan.safetensors")
    protect = [6, 18, 27, 31, 67]  # protect.sh's order (distinct_decoys depends on it)
    invert = _inverter(gan.generator, gan.critic, gan.latent_dim, config, "cpu", lambda event: None)
    shares = generated_shares(gan.generator, gan.latent_dim, public, "cpu")
    ranking = rank_decoys(model, public, protect, invert, shares=shares, pool_seed=config.decoy_pool_seed)
    chosen = dict(zip(protect, distinct_decoys(ranking, protect)))
    given = {int(c): d for c, d in report["decoys"].items()}
    hits = report["rounds"][-1]["decoy_hit_rate"]
    return {"folder": str(folder), "ranking": ranking, "chosen": chosen, "given": given,
            "same": chosen == given, "hits": hits, "extra_decoys": report["extra_decoys"]}


if __name__ == "__main__":
    torch.set_num_threads(1)
    for arg in sys.argv[1:]:
        row = ranking_of(Path(arg))
        print(json.dumps(row))
        sys.stdout.flush()
