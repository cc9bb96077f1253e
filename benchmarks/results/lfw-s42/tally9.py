"""All nine `strong` attacks per model from judge rows (JUDGE/NAME.json: the five of rule R42; JUDGE/NAME-rest.json:
the other four, where run); by default this folder's; how many hits are sure where the rows carry it (since session 51).
    python benchmarks/results/lfw-s42/tally9.py [JUDGE NAME ...]"""
import json
import sys
from pathlib import Path

JUDGE = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).with_name("judge")
for name in sys.argv[2:] or ("def0", "fh4"):
    parts = [JUDGE / f"{name}{part}.json" for part in ("", "-rest") if (JUDGE / f"{name}{part}.json").exists()]
    rows = [r["hardened"] | {"preset": r["preset"]} for path in parts for r in json.loads(path.read_text())["rows"]]
    recovered = {r["preset"]: round(r["top1"] * r["rows"]) for r in rows}
    worst, worst5 = max(rows, key=lambda r: r["top1"]), max(rows, key=lambda r: r["top5"])
    print(f"{name}: {len(rows)} attacks, recovered {sum(recovered.values())} of {sum(r['rows'] for r in rows)}; "
          f"worst top-1 {worst['top1']:.1%} ({worst['preset']}), worst top-5 {worst5['top5']:.1%} "
          f"({worst5['preset']}); at or under 5 %: {sum(r['top1'] <= 0.05 + 1e-9 for r in rows)}")
    print("   ", {r["preset"]: f"{recovered[r['preset']]} ({r['top5']:.1%})" for r in rows})
    if all("sure_top1" in r for r in rows):  # rows judged since session 51
        print(f"    sure (hardener.audit.metrics): {sum(round(r['sure_top1'] * r['rows']) for r in rows)} of the "
              f"{sum(recovered.values())}")
