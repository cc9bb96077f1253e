"""sure.py NAME=OUT.pt...: session 51. verify's sure top-1 (hardener.audit.metrics.attack_metrics, the product's own
code) on the reconstructions reconstruct.py kept, judged by the evaluation model against the held-out photos, as a
Markdown table: hits, sure hits, the hits' median margin, the bar per person.
    python benchmarks/results/lfw-s51/sure.py target=.cache/s51/look-target.pt DX3=.cache/s51/look-DX3.pt
"""
import sys
from pathlib import Path

import torch

from hardener.attacks.engine import InversionResult
from hardener.audit.metrics import attack_metrics
from hardener.data import load_dataset
from hardener.loading import load_model

B = Path(".cache/benchmarks")


def main(named_files: list[str]) -> None:
    evaluator = load_model(B / "eval" / "model.safetensors").model
    held_out = load_dataset(str(B / "splits" / "private" / "test.npz"))
    print("| model | attack | top-1 hits | sure | median margin of the hits | bar per person (6, 18, 27, 31, 67) |")
    print("|---|---|---|---|---|---|")
    for item in named_files:
        name, path = item.split("=", 1)
        for preset, r in torch.load(path).items():
            n = len(r["targets"])
            result = InversionResult(targets=r["targets"], restarts=torch.zeros(n, dtype=torch.long),
                                     z=torch.zeros(n, 1), images=r["images"].float(), confidence=torch.zeros(n),
                                     identity_loss=torch.zeros(n), best_rows={})
            m = attack_metrics(result, evaluator, held_out)
            bars = ", ".join(f"{m.per_class[c]['photo_margin']:.1f}" for c in sorted(m.per_class))
            print(f"| {name} | {preset} | {round(m.top1 * n)} of {n} | {round(m.sure_top1 * n)} | "
                  f"{m.recovered_margin:.2f} | {bars} |")


if __name__ == "__main__":
    main(sys.argv[1:])
