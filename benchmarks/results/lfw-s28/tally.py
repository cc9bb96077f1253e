"""Rules H-K's tables: people recovered (of 75) per model and attack seed, and each rule's conditions.

    python benchmarks/results/lfw-s28/tally.py   # from the repository root

Attack seed 0's plg-gan reports of the default and pseudo models are in lfw-gate; every other run's in
lfw-s28/reports (seed 4's attack-seed-1 pair from session 27).
"""
import json
from pathlib import Path

HERE = Path("benchmarks/results/lfw-s28/reports")
GATE = Path("benchmarks/results/lfw-gate")
SEEDS = (0, 3, 4, 5)
ATTACK_SEED_0 = {"def-s0": "stack-lc2-s0-rest", "def-s3": "stack-lc2-s3-plggan", "def-s4": "stack-lc2-s4-plggan",
                 "def-s5": "stack-def-s5-rest", **{f"ps-s{s}": f"stack-ps-s{s}-plggan" for s in SEEDS}}  # in lfw-gate


def recovered(path: Path, preset: str = "plg-gan") -> int | None:
    """People the preset recovered (top-1 hits on the protected classes), or None when the run is missing."""
    if not path.exists():
        return None
    attack = next(a for a in json.loads(path.read_text())["attacks"] if a["preset"] == preset)
    return round(attack["hardened"]["top1"] * attack["hardened"].get("rows", 75))  # session 18's reports lack rows


def plg(model: str, attack_seed: int) -> int | None:
    """plg-gan's count on `model` (def-s0, ps-s3, xd1-s0, lc0-s4, ...) at `attack_seed`."""
    if attack_seed == 0 and model in ATTACK_SEED_0:
        return recovered(GATE / f"{ATTACK_SEED_0[model]}.json")
    return recovered(HERE / f"h-{model}-a{attack_seed}.json")


def mean_of(counts: list) -> float | None:
    done = [c for c in counts if c is not None]
    return sum(done) / len(done) if done else None


def row(label: str, counts: list) -> str:
    mean = mean_of(counts)
    return (f"| {label} | " + " | ".join("-" if c is None else str(c) for c in counts)
            + f" | {'-' if mean is None else f'{mean:.1f}'} |")


HEAD = "| model | attack seed 0 | 1 | 2 | mean |\n| --- | --- | --- | --- | --- |"

print("## Rule H: plg-gan, default vs ensemble + pseudo\n\n" + HEAD)
h = {(tag, s): [plg(f"{tag}-s{s}", a) for a in (0, 1, 2)] for s in SEEDS for tag in ("def", "ps")}
for s in SEEDS:
    for tag in ("def", "ps"):
        print(row(f"seed {s} {'default' if tag == 'def' else 'pseudo'}", h[(tag, s)]))
total = {tag: sum(c or 0 for (t, _), cs in h.items() if t == tag for c in cs) for tag in ("def", "ps")}
wins = sum(mean_of(h[("ps", s)]) <= mean_of(h[("def", s)]) for s in SEEDS)
print(f"\ntotal of 900: default {total['def']}, pseudo {total['ps']} (condition 1, pseudo <= {0.8 * total['def']:.1f}: "
      f"{total['ps'] <= 0.8 * total['def']}); seeds where pseudo's mean <= default's: {wins} of 4 (condition 2: {wins >= 3})")

leak_caps_runs = [c for cs in (h[("def", s)] for s in SEEDS) for c in cs] + [
    recovered(GATE / "stack-lc2-s1-plggan.json"), recovered(GATE / "stack-lc2-s2-rest.json")]
print("\n## Rule I: plg-gan on stacks without leak caps (session 23's extra-decoy stacks; session 18's two)\n\n" + HEAD)
i_runs = []
for tag in ("xd1-s0", "xd1-s2", "xd2-s4"):
    counts = [plg(tag, a) for a in (0, 1)] + [None]
    i_runs += [c for c in counts if c is not None]
    print(row(tag, counts))
session18 = [recovered(GATE / "stack-seed0-b.json"), recovered(GATE / "stack-seed1-b.json")]
for label, count in zip(("session 18's stack s0", "session 18's stack s1"), session18):
    print(row(label, [count, None, None]))
i_all, lc = i_runs + session18, [c for c in leak_caps_runs if c is not None]
print(f"\nmean a run: without leak caps {sum(i_all) / len(i_all):.2f} ({len(i_all)} runs), leak caps default "
      f"{sum(lc) / len(lc):.2f} ({len(lc)} runs): at most half? {sum(i_all) / len(i_all) <= 0.5 * sum(lc) / len(lc)}")

print("\n## Rule J: --leak-caps 0 on the default's TL-DMI models, same seeds\n\n" + HEAD)
j = {s: [plg(f"lc0-s{s}", a) for a in (0, 1, 2)] for s in (0, 4)}
for s in (0, 4):
    print(row(f"seed {s} default", h[("def", s)]))
    print(row(f"seed {s} --leak-caps 0", j[s]))
j_total, d_total = sum(c or 0 for cs in j.values() for c in cs), sum(c or 0 for s in (0, 4) for c in h[("def", s)])
j_missing = sum(c is None for cs in j.values() for c in cs)
print(f"\ntotal: --leak-caps 0 {j_total}, default {d_total}: at most half? {j_total <= 0.5 * d_total}"
      + (f" ({j_missing} runs missing)" if j_missing else ""))

print("\n## Rule K: plg-gan-adaptive (attack seed 0) against plg-gan's mean over attack seeds 0-2\n")
print("| model | plg-gan-adaptive | plg-gan mean |\n| --- | --- | --- |")
k = {s: recovered(HERE / f"k-def-s{s}.json", "plg-gan-adaptive") for s in SEEDS}
for s in SEEDS:
    print(f"| seed {s} default | {'-' if k[s] is None else k[s]} | {mean_of(h[('def', s)]):.1f} |")
k_total, p_total = sum(c or 0 for c in k.values()), sum(mean_of(h[("def", s)]) for s in SEEDS)
missing = [s for s, c in k.items() if c is None]
print(f"\ntotal: plg-gan-adaptive {k_total}, plg-gan {p_total:.1f}: joins strong? {k_total >= p_total}"
      + (f" (runs missing at seeds {missing})" if missing else ""))
