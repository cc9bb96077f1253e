"""The comparison table of `hardener compare`, as cells (the CLI draws them with Rich) and as Markdown.

Torch-free: it reads only compare's report dict, so the terminal table and compare.md cannot disagree.
"""
from __future__ import annotations

from pathlib import Path

from hardener.report.gate import _md_cell

NUMBERED_FROM = 7  # from this many models on, names beside the points overlap: number them and add a key


def table_cells(report: dict) -> tuple[list[str], list[list[str]]]:
    """(header, rows): one row per model, baseline first."""
    presets = report["presets"]
    header = (["model", "gate", "accuracy (all)", "accuracy (protected)"] + [f"{p} top-1 / top-5" for p in presets]
              + ["worst attack (top-1)", "MIA AUC", "MIA TPR@1%FPR", "protect time"])
    rows = []
    for m in report["models"]:
        gate = "baseline" if m["role"] == "baseline" else ("pass" if m["gate"]["passed"] else "FAIL")
        acc = m["natural_accuracy"]
        cells = [m["name"], gate, _pct(acc["all"]), _pct(acc["protected"])]
        cells += [f"{_pct(m['attacks'][p]['top1'])} / {_pct(m['attacks'][p]['top5'])}" for p in presets]
        worst = m["worst_attack"]
        cells.append("—" if worst is None else f"{worst['preset']} {_pct(worst['top1'])}")
        mia = m["membership_inference"]
        cells += ["—", "—"] if mia is None else [f"{mia['max_auc']:.3f}", _pct(mia["tpr_at_1pct_fpr"])]
        cells.append("—" if m["protect_seconds"] is None else f"{m['protect_seconds']:.0f} s")
        rows.append(cells)
    return header, rows


def failure_lines(report: dict) -> list[str]:
    """One line per hardened model that failed the gate, naming the checks that failed."""
    return [f"{m['name']} ({m['path']}) FAILED: {'; '.join(_short(c) for c in m['gate']['failures'])}"
            for m in report["models"] if m["role"] == "hardened" and not m["gate"]["passed"]]


def _short(check: str) -> str:
    """A check's name without the interval wording every check shares (compare.json has it in full)."""
    return check.replace(" (protected classes, top-1, 95% upper bound)", "").replace(", 95% upper bound", "")


def markdown_table(report: dict) -> str:
    """compare.md: the verdict, the table, the failed checks, how the numbers were made."""
    header, rows = table_cells(report)
    verdict = "PASS: every hardened model passes verify's gate" if report["passed"] else \
        f"FAIL: {', '.join(report['failed'])} failed verify's gate"
    lines = [f"## hardener compare: {_md_cell(verdict)}", "",
             "| " + " | ".join(_md_cell(h) for h in header) + " |",
             "| " + " | ".join("---" if i == 0 else "---:" for i in range(len(header))) + " |"]
    lines += ["| " + " | ".join(_md_cell(c) for c in row) + " |" for row in rows]
    lines.append("")
    lines += [f"- {_md_cell(line)}" for line in failure_lines(report)]
    seeds = ", ".join(f"{p} {s}" for p, s in report["seeds"].items())
    lines += [f"- Attacks on the protected classes {_md_cell(', '.join(report['protected']))}, top-1 / top-5 by the "
              f"evaluation model, {report['budget']} budget, seeds {seeds}; the same for every model.",
              "- Worst attack: the one with the highest upper end of the 95% interval of top-1.",
              f"- {_md_cell(report['decision_rule'])}"]
    lines += [f"- Attack {s['preset']} not run: {_md_cell(s['reason'])}." for s in report["skipped_attacks"]]
    return "\n".join(lines) + "\n"


def privacy_utility_plot(report: dict, path: str | Path) -> Path:
    """compare.png from compare's report (so it can be redrawn from compare.json): worst-attack top-1 against
    held-out accuracy, one point per model that was attacked."""
    from hardener.report.plots import privacy_utility_png

    points = [(m["name"], m["natural_accuracy"]["all"], m["worst_attack"]["top1"], m.get("gate", {}).get("passed"))
              for m in report["models"] if m["worst_attack"]]
    return privacy_utility_png(points, path, numbered=len(points) >= NUMBERED_FROM,
                               title=f"Privacy vs utility ({report['budget']} budget, "
                                     f"{len(report['protected'])} protected classes)")


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}%"
