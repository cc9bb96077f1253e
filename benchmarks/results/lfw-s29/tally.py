"""Session 29's table: every attack run on the two rule-L models, recovered of 75 with top-1 / top-5, the person
recovered most, and the held-out accuracy.

    python benchmarks/results/lfw-s29/tally.py   # from the repository root

reports/MODEL-RUN.json are verify's report.json files (MODEL: control, arm; RUN: plggan-a0, verify4, rest, ...).
"""
import json
from pathlib import Path

HERE = Path(__file__).resolve().parent / "reports"


def main() -> None:
    print("| model | run | acc. all / protected | attack | top-1 / top-5 % | recovered of 75 | most recovered (class: of 15) |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    totals: dict[str, int] = {}
    for path in sorted(HERE.glob("*.json")):
        model, run = path.stem.split("-", 1)
        report = json.loads(path.read_text())
        acc = report["natural_accuracy"]["hardened"]
        for attack in report["attacks"]:
            h = attack["hardened"]
            hits = round(h["top1"] * h["rows"])
            totals[model] = totals.get(model, 0) + hits
            by_class = {c: round(v * h["rows"] / len(h["top1_by_class"])) for c, v in h["top1_by_class"].items()}
            top = max(by_class, key=by_class.get)
            most = f"{top}: {by_class[top]}" if by_class[top] else "-"
            print(f"| {model} | {run} | {acc['all']:.1%} / {acc['protected']:.1%} | {attack['preset']} "
                  f"(seed {attack['seed']}) | {h['top1']:.1%} / {h['top5']:.1%} | {hits} | {most} |")
    print()
    for model, hits in totals.items():
        print(f"{model}: {hits} recovered over every run")


if __name__ == "__main__":
    main()
