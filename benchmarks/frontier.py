"""The privacy-utility frontier of several `benchmarks/efficacy.py` runs, as one table and one PNG.

    python benchmarks/frontier.py benchmarks/results/lfw/*.log --out docs/frontier_lfw.png

efficacy.py prints one Markdown row per setting; each run is 20-40 minutes of CPU on LFW, so settings are
measured in separate runs (often two at once). This script reads those printed tables as they are, keeps the
attack columns every log has (the worst attack is recomputed over them, so logs that judged more attacks
stay comparable), drops repeated rows (every log repeats the undefended one) and draws worst-attack top-1
against held-out accuracy with hardener's own plot. Logs must come from the same world, protect classes and
attack seeds: efficacy.py fixes the seeds, so the undefended rows must agree, and the script checks that.

`hardener verify` runs count too, at the gate's sample size: an argument `LABEL=DIR[,DIR...]` reads the
report.json in each DIR (or the .json file itself) of one hardened model (several verifies of one model, each
with some of the attacks, are merged) and adds its baseline as the undefended row. Its column "gate" counts
the checks that pass verify's own rule (the 95 % interval's far end within the limit; every check of the
reports, all the attacks they judged), and only rows that pass them all are marked as passing on the plot;
an efficacy.py row is marked by its point values:

    python benchmarks/frontier.py "stack, seed 0=V0a,V0b" "patent=VP" --out docs/frontier_lfw_gate.png

`--attacks a,b,...` judges the worst over those attacks instead of over the ones every log has, and leaves
out (and names) the logs that lack one: so an attack only some models were judged by (plg-gan on LFW) can
be on a plot of its own rather than dropped from every plot.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def read_rows(path: Path) -> tuple[list[str], list[dict]]:
    """(attack names, rows) of one efficacy.py log: each row's setting, accuracies and per-attack top-1."""
    header, rows = None, []
    for line in path.read_text().splitlines():
        if not line.startswith("| ") or line.startswith("| ---"):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if cells[0] == "recipe":
            header = cells
            continue
        if header is None or len(cells) != len(header):
            continue
        attacks = header[5:-1]
        label = "undefended" if cells[0] == "undefended" else f"{cells[0]}: {cells[1]}"
        pairs = list(zip(attacks, cells[5:-1]))
        rows.append({"label": label, "accuracy": _percent(cells[3]), "protected": _percent(cells[4]),
                     "top1": {a: _percent(c.split("/")[0]) for a, c in pairs},
                     "top5": {a: _percent(c.split("/")[1]) if "/" in c else None for a, c in pairs}})
    if header is None:
        sys.exit(f"{path}: no efficacy.py table found")
    return header[5:-1], rows


def read_verify(argument: str) -> tuple[list[str], list[dict]]:
    """(attack names, [undefended row, hardened row]) from `LABEL=DIR[,DIR...]`: verify reports of one model."""
    label, _, paths = argument.partition("=")
    reports = []
    for part in paths.split(","):
        path = Path(part)
        reports.append(json.loads((path / "report.json" if path.is_dir() else path).read_text()))
    checks = {c["name"]: c["passed"] for r in reports for c in r["checks"] if not c.get("informational")}
    rows = []
    for model, name in (("baseline", "undefended"), ("hardened", label)):
        accuracy = reports[0]["natural_accuracy"][model]
        attacks = {a["preset"]: a[model] for r in reports for a in r["attacks"]}
        rows.append({"label": name, "accuracy": accuracy["all"], "protected": accuracy["protected"],
                     "top1": {a: v["top1"] for a, v in attacks.items()},
                     "top5": {a: v.get("top5") for a, v in attacks.items()}})
    rows[1]["gate"] = (sum(checks.values()), len(checks))
    return list(rows[1]["top1"]), rows


def _passes(row: dict, base_accuracy: float) -> bool | None:
    """Whether a row is marked as passing: verify's own verdict, else the gate's limits on the point values."""
    if row["label"] == "undefended":
        return None
    if "gate" in row:
        return row["gate"][0] == row["gate"][1]
    return row["worst"] <= 0.05 and base_accuracy - row["accuracy"] <= 0.01


def _percent(cell: str) -> float:
    return float(cell.strip().rstrip("%")) / 100


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("logs", nargs="+", help="efficacy.py logs, or LABEL=DIR[,DIR...] for verify reports")
    parser.add_argument("--out", type=Path, default=None, help="write the plot here (PNG)")
    parser.add_argument("--rename", action="append", default=[], metavar="'OLD -> NEW'",
                        help="relabel a row, e.g. when a log predates a change of protect's defaults")
    parser.add_argument("--attacks", default=None, metavar="A,B,...",
                        help="worst over these attacks; logs without one of them are left out")
    parser.add_argument("--title", default="protect on LFW: worst attack vs accuracy")
    args = parser.parse_args()

    renames = dict(tuple(part.strip() for part in item.split("->", 1)) for item in args.rename)
    read = [read_verify(item) if "=" in item else read_rows(Path(item)) for item in args.logs]
    for _, log_rows in read:
        for row in log_rows:
            row["label"] = renames.get(row["label"], row["label"])
    logs = list(zip(args.logs, read))  # (argument, (attack names, rows))
    if args.attacks:
        common = args.attacks.split(",")
        judged, left_out = [], []
        for item, log in logs:  # each log to one of the two lists, by whether every asked attack judged it
            (judged if set(common) <= set(log[0]) else left_out).append((item, log))
        left_out = [item.partition("=")[0] for item, _ in left_out]
        if left_out:
            print(f"left out, not judged by every attack of --attacks: {'; '.join(left_out)}\n")
        if not judged:
            sys.exit(f"no log was judged by all of {args.attacks}")
        logs = judged
    else:
        common = [a for a in read[0][0] if all(a in attacks for attacks, _ in read)]
    rows, seen = [], set()
    for path, (_, log_rows) in logs:
        for row in log_rows:
            row["worst"] = max(row["top1"][a] for a in common)
            top5 = [row["top5"][a] for a in common if row["top5"].get(a) is not None]
            row["worst_top5"] = max(top5) if len(top5) == len(common) else None
            key = (row["label"], round(row["accuracy"], 4), round(row["worst"], 4))
            same_label = [r for r in rows if r["label"] == row["label"]]
            if row["label"] == "undefended" and same_label and key not in seen:
                sys.exit(f"{path}: its undefended row differs from the first log's: not the same world or seeds")
            if key not in seen:
                seen.add(key)
                rows.append(row)
    print(f"worst attack over {'--attacks' if args.attacks else 'the attacks every log judged'}: {', '.join(common)}\n")
    print("| setting | acc. all | acc. protected | " + " | ".join(common) + " | worst | worst top-5 | gate |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in common) + " | --- | --- | --- |")
    for row in rows:
        top5 = "-" if row["worst_top5"] is None else f"{row['worst_top5']:.1%}"
        gate = "{} of {}".format(*row["gate"]) if "gate" in row else "-"
        print(f"| {row['label']} | {row['accuracy']:.1%} | {row['protected']:.1%} | "
              + " | ".join(f"{row['top1'][a]:.1%}" for a in common) + f" | {row['worst']:.1%} | {top5} | {gate} |")
    if args.out:
        from hardener.report.plots import privacy_utility_png

        base = next(r["accuracy"] for r in rows if r["label"] == "undefended")
        points = [(r["label"], r["accuracy"], r["worst"], _passes(r, base)) for r in rows]
        xs, ys = [100 * r["accuracy"] for r in rows], [100 * r["worst"] for r in rows]
        limits = ((min(xs) - 3, max(xs) + 6), (-2, min(105, max(ys) + 8)))
        print(f"\nplot: {privacy_utility_png(points, args.out, title=args.title, limits=limits, numbered=True)}")


if __name__ == "__main__":
    main()
