"""Plots of measured trade-offs. matplotlib is imported inside the drawing functions (Agg canvas, no pyplot
state), so importing this module, and `hardener --help`, stays free of it; see audit/roc.py."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

# (label, natural accuracy 0-1, worst-attack top-1 0-1, gate passed: True / False / None for the baseline)
Point = tuple[str, float, float, "bool | None"]
COLOURS = {None: "#1f77b4", True: "#2ca02c", False: "#d62728"}
LEGEND = {None: "baseline", True: "passes the gate", False: "fails the gate"}


def privacy_utility_png(points: Sequence[Point], path: str | Path, title: str = "Privacy vs utility") -> Path:
    """Worst-attack top-1 (y) against held-out accuracy (x), one labelled point per model, written atomically.
    The better corner (accurate and hard to invert) is the lower right; the axis labels say so."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from hardener.files import atomic_output

    figure = Figure(figsize=(7, 5.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    for status in (None, True, False):
        chosen = [p for p in points if p[3] is status]
        if chosen:
            ax.scatter([100 * p[1] for p in chosen], [100 * p[2] for p in chosen], s=60, color=COLOURS[status],
                       marker="s" if status is None else "o", label=LEGEND[status], zorder=3)
    labels: dict[tuple[float, float], list[str]] = {}  # models on the same spot share one label
    for name, acc, attack, _ in points:
        labels.setdefault((round(100 * acc, 1), round(100 * attack, 1)), []).append(name)
    for (x, y), names in labels.items():
        ax.annotate("\n".join(names), (x, y), textcoords="offset points", xytext=(6, 4), fontsize=9, va="bottom")
    ax.set_xlim(-2, 105)
    ax.set_ylim(-2, 105)
    ax.set_xlabel("natural accuracy, held-out (%; higher is better)")
    ax.set_ylabel("worst attack top-1 on the protected classes (%; lower is better)")
    ax.set_title(title)
    ax.grid(True, color="0.9")
    ax.legend(loc="upper left", fontsize=9)
    with atomic_output(path) as tmp:
        figure.savefig(tmp, format="png")
    return Path(path)
