"""Run from the checkout's root: `python benchmarks/results/lfw-s24/on_decoy.py`. For every stacked verify report in
benchmarks/results/lfw-gate that has per-class figures (15 reconstructions a class and attack), the recoveries in
class-and-attack cells where at least half the reconstructions landed on one of the class's decoys (recovered
although captured) and in the other cells (escaped the decoys)."""
import json
from pathlib import Path

totals = [0, 0]
for path in sorted(Path("benchmarks/results/lfw-gate").glob("stack*.json")):
    counts = [0, 0]
    for attack in json.loads(path.read_text())["attacks"]:
        hardened = attack["hardened"]
        by_class, hits = hardened.get("top1_by_class"), hardened.get("decoy_hit_rate")
        if not by_class or not hits:
            continue
        for c, share in by_class.items():
            counts[0 if hits.get(c, 0.0) >= 0.5 else 1] += round(share * 15)
    if any(counts):
        print(f"{path.name:28s} on the decoy {counts[0]:3d}  escaped {counts[1]:3d}")
        totals = [t + n for t, n in zip(totals, counts)]
print(f"{'all':28s} on the decoy {totals[0]:3d}  escaped {totals[1]:3d}")
