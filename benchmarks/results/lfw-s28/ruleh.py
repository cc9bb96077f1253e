"""Rule H's table: plg-gan's recoveries (of 75) per model and attack seed, and the rule's two conditions.

    python benchmarks/results/lfw-s28/ruleh.py   # from the repository root

Attack seed 0's reports are in lfw-gate; seeds 1 and 2's in lfw-s28/reports (seed 4's seed-1 pair from session 27).
"""
import json
from pathlib import Path

HERE = Path("benchmarks/results/lfw-s28/reports")
SEEDS = (0, 3, 4, 5)
GATE = Path("benchmarks/results/lfw-gate")
DEFAULT = {0: "stack-lc2-s0-rest", 3: "stack-lc2-s3-plggan", 4: "stack-lc2-s4-plggan", 5: "stack-def-s5-rest"}
REPORTS = {  # (arm, model seed, attack seed) -> report.json; attack seed 0's are committed in lfw-gate
    **{("default", s, 0): GATE / f"{DEFAULT[s]}.json" for s in SEEDS},
    **{("pseudo", s, 0): GATE / f"stack-ps-s{s}-plggan.json" for s in SEEDS},
}
for arm, tag in (("default", "def"), ("pseudo", "ps")):
    for s in SEEDS:
        for a in (1, 2):
            REPORTS[(arm, s, a)] = HERE / f"h-{tag}-s{s}-a{a}.json"


def recovered(path: Path) -> int | None:
    """People plg-gan recovered (top-1 hits on the protected classes), or None when the run is missing."""
    if not path.exists():
        return None
    attack = next(a for a in json.loads(path.read_text())["attacks"] if a["preset"] == "plg-gan")
    return round(sum(v * 15 for v in attack["hardened"]["top1_by_class"].values()))


counts = {key: recovered(path) for key, path in REPORTS.items()}
print("| model seed | arm | attack seed 0 | 1 | 2 | mean |\n| --- | --- | --- | --- | --- | --- |")
means = {}
for s in SEEDS:
    for arm in ("default", "pseudo"):
        row = [counts[(arm, s, a)] for a in (0, 1, 2)]
        done = [c for c in row if c is not None]
        means[(arm, s)] = sum(done) / len(done) if done else None
        print(f"| {s} | {arm} | " + " | ".join("-" if c is None else str(c) for c in row)
              + f" | {'-' if not done else f'{means[(arm, s)]:.1f}'} |")
missing = [k for k, c in counts.items() if c is None]
total = {arm: sum(c for (a, _, _), c in counts.items() if a == arm and c is not None) for arm in ("default", "pseudo")}
wins = sum(means[("pseudo", s)] <= means[("default", s)] for s in SEEDS if means[("pseudo", s)] is not None
           and means[("default", s)] is not None)
print(f"\ntotal of 900 (12 runs of 75 each): default {total['default']}, pseudo {total['pseudo']}"
      f" (condition 1: pseudo <= {0.8 * total['default']:.1f}: {total['pseudo'] <= 0.8 * total['default']})")
print(f"model seeds where pseudo's mean <= default's: {wins} of 4 (condition 2: >= 3: {wins >= 3})")
print(f"runs missing: {len(missing)}" + ("" if not missing else f" ({missing})"))
