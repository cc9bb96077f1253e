"""Session 29's table: every attack run on the two rule-L models, recovered of 75 with top-1 / top-5, the person
recovered most, and the held-out accuracy.

    python benchmarks/results/lfw-s29/tally.py [REPORTS]   # from the repository root

REPORTS (default this folder's reports/; session 30 passes lfw-s30/reports) holds MODEL-RUN.json, verify's
report.json files (MODEL: control, arm, seed1, ...; RUN: plggan-a0, verify4, rest, ...).
"""
import json
import sys
from pathlib import Path

HERE = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "reports"


def main() -> None:
    print("| model | run | acc. all / protected | attack | top-1 / top-5 % | recovered of 75 | most recovered (class: of 15) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    totals: dict[str, int] = {}
    worst: dict[str, dict] = {}  # per model: worst top-1 and top-5 and its accuracy, against the targets
    for path in sorted(HERE.glob("*.json")):
        model, run = path.stem.split("-", 1)
        report = json.loads(path.read_text())
        acc = report["natural_accuracy"]["hardened"]
        for attack in report["attacks"]:
            h = attack["hardened"]
            hits = round(h["top1"] * h["rows"])
            totals[model] = totals.get(model, 0) + hits
            w = worst.setdefault(model, {"top1": 0.0, "top5": 0.0, "acc": acc, "base": report["natural_accuracy"]["baseline"]})
            w["top1"], w["top5"] = max(w["top1"], h["top1"]), max(w["top5"], h["top5"])
            by_class = {c: round(v * h["rows"] / len(h["top1_by_class"])) for c, v in h["top1_by_class"].items()}
            top = max(by_class, key=by_class.get)
            most = f"{top}: {by_class[top]}" if by_class[top] else "-"
            print(f"| {model} | {run} | {acc['all']:.1%} / {acc['protected']:.1%} | {attack['preset']} "
                  f"(seed {attack['seed']}) | {h['top1']:.1%} / {h['top5']:.1%} | {hits} | {most} |")
    print()
    for model, hits in totals.items():
        w = worst[model]
        drop_all, drop_protected = (100 * (w["base"][k] - w["acc"][k]) for k in ("all", "protected"))
        print(f"{model}: {hits} recovered over every run; worst top-1 {w['top1']:.1%} (target 5 %), worst top-5 "
              f"{w['top5']:.1%} (25 %), accuracy drop {drop_all:.1f} points overall (1), {drop_protected:.1f} "
              "protected (2)")


if __name__ == "__main__":
    main()
