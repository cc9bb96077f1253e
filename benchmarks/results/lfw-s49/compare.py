"""Rule R49b: the defender's audit (protect's GAN, the user's target as judge) against the judge (the attacker's GAN,
the evaluation model), per model: recovered of 375 over rule R42's five attacks, per class, and Kendall's tau-b.
    python benchmarks/results/lfw-s49/compare.py   # from the repository root; reads this folder's audit/ and judge/
"""
import json
from pathlib import Path

from scipy.stats import kendalltau

HERE = Path(__file__).parent
# where each model's judge rows are; S02 had no audit (its judge stopped after two attacks)
JUDGES = {"DX0": "lfw-s48", "DX2": "lfw-s48", "DX3": "lfw-s48", "DX4": "lfw-s48", "S34": "lfw-s49"}


def recovered(path: Path) -> tuple[int, dict[str, int], int]:
    """Reconstructions recovered (top-1) in all, per protected class, and how many attacks the file has."""
    rows = [r["hardened"] for r in json.loads(path.read_text())["rows"]]
    by_class: dict[str, int] = {}
    for r in rows:
        per = r["rows"] // len(r["top1_by_class"])
        for c, share in r["top1_by_class"].items():
            by_class[c] = by_class.get(c, 0) + round(share * per)
    return sum(round(r["top1"] * r["rows"]) for r in rows), by_class, len(rows)


def main() -> None:
    audit, judge = [], []
    for name, folder in JUDGES.items():
        a_path = HERE / "audit" / f"{name}.json"
        if not a_path.exists():
            continue
        a, a_cls, a_n = recovered(a_path)
        j, j_cls, j_n = recovered(HERE.parent / folder / "judge" / f"{name}.json")
        print(f"{name}: audit {a} ({a_n} attacks) {a_cls}; judge {j} ({j_n} attacks) {j_cls}")
        if a_n == j_n == 5:
            audit.append(a), judge.append(j)
    if len(audit) >= 3:
        tau = kendalltau(audit, judge, variant="b")
        print(f"Kendall tau-b over {len(audit)} models with all five attacks in both: {tau.statistic:.2f}")


if __name__ == "__main__":
    main()
