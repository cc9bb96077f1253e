"""All nine `strong` attacks per model from this folder's judge rows (judge/NAME.json: the five of rule R42;
judge/NAME-rest.json: the other four).   python benchmarks/results/lfw-s42/tally9.py"""
import json
from pathlib import Path

JUDGE = Path(__file__).with_name("judge")
for name in ("def0", "fh4"):
    rows = [r["hardened"] | {"preset": r["preset"]} for part in ("", "-rest")
            for r in json.loads((JUDGE / f"{name}{part}.json").read_text())["rows"]]
    recovered = {r["preset"]: round(r["top1"] * r["rows"]) for r in rows}
    worst, worst5 = max(rows, key=lambda r: r["top1"]), max(rows, key=lambda r: r["top5"])
    print(f"{name}: {len(rows)} attacks, recovered {sum(recovered.values())} of {sum(r['rows'] for r in rows)}; "
          f"worst top-1 {worst['top1']:.1%} ({worst['preset']}), worst top-5 {worst5['top5']:.1%} "
          f"({worst5['preset']}); at or under 5 %: {sum(r['top1'] <= 0.05 + 1e-9 for r in rows)}")
    print("   ", {r["preset"]: f"{recovered[r['preset']]} ({r['top5']:.1%})" for r in rows})
