"""premise.py NAME...: session 54. Does protect's own last-round decoy hit rate point at the people the judge
recovers? Per protected class of each hardened folder .cache/s45/NAME (report.json: the last round's hit rate;
judge.json: lfw-s42/judge.py's five attacks, 15 reconstructions a class each), the hit rate beside the number of
the class's 75 reconstructions the evaluation model names it. Prints the table, the counts under and over protect's
50 % aim, and Spearman's rho over all classes and within each person. Reads judge files only to measure the rule's
premise, never for protect.
    python benchmarks/results/lfw-s54/premise.py DX0 DX2 DX3 DX4 E3 E4 P3 P4 X3 X3b
"""
import json
import sys
from pathlib import Path

from scipy.stats import spearmanr

CLASSES = ("6", "18", "27", "31", "67")
AIM = 0.5


def class_rows(name: str) -> list[tuple[str, str, float, int]]:
    folder = Path(".cache/s45") / name
    report = json.loads((folder / "out" / "report.json").read_text())
    judge = json.loads((folder / "judge.json").read_text())
    hits = report["rounds"][-1]["decoy_hit_rate"]
    return [(name, c, hits[c], sum(round(row["hardened"]["top1_by_class"][c] * row["hardened"]["rows"] / 5)
                                   for row in judge["rows"])) for c in CLASSES]


if __name__ == "__main__":
    rows = [r for name in sys.argv[1:] for r in class_rows(name)]
    print("| model | " + " | ".join(f"{c}: hit % / recovered" for c in CLASSES) + " |")
    print("|---" * (len(CLASSES) + 1) + "|")
    for name in sys.argv[1:]:
        cells = [f"{100 * h:.0f} / {n}" for m, _, h, n in rows if m == name]
        print(f"| {name} | " + " | ".join(cells) + " |")
    low = [r for r in rows if r[2] < AIM]
    high = [r for r in rows if r[2] >= AIM]
    for label, part in (("under the aim", low), ("at or over it", high)):
        recovered, leaking = sum(r[3] for r in part), sum(1 for r in part if r[3] >= 3)
        print(f"{label}: {len(part)} classes, {recovered} recovered ({recovered / max(len(part), 1):.2f} a class), "
              f"{leaking} with 3 or more")
    rho = spearmanr([r[2] for r in rows], [r[3] for r in rows])
    print(f"Spearman rho (hit rate, recovered) over {len(rows)} classes: {rho.statistic:.2f} (p {rho.pvalue:.2f})")
    for c in CLASSES:  # within one person: the judge's habit for him is the same in every model
        mine = [r for r in rows if r[1] == c]
        if len({r[3] for r in mine}) > 1:
            rho = spearmanr([r[2] for r in mine], [r[3] for r in mine])
            print(f"class {c} alone, over {len(mine)} models: rho {rho.statistic:.2f} (p {rho.pvalue:.2f})")
