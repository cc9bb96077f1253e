"""Plots of measured trade-offs. matplotlib is imported inside the drawing functions (Agg canvas, no pyplot
state), so importing this module, and `hardener --help`, stays free of it."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

if TYPE_CHECKING:
    from hardener.audit.roc import RocResult

# (label, natural accuracy 0-1, worst-attack top-1 0-1, gate passed: True / False / None for the baseline)
Point = tuple[str, float, float, "bool | None"]
COLOURS = {None: "#1f77b4", True: "#2ca02c", False: "#d62728"}
LEGEND = {None: "baseline", True: "passes the gate", False: "fails the gate"}


LABEL_GAP = 2.0  # points closer than this on both axes (percentage points) would print their labels over each other


def label_groups(points: Sequence[Point], gap: float = LABEL_GAP) -> list[tuple[float, float, list[str]]]:
    """(x, y, names) per label to draw, in %: a model within `gap` of an earlier one on both axes joins that
    one's label instead of printing its own on top of it."""
    groups: list[tuple[float, float, list[str]]] = []
    for name, acc, attack, _ in points:
        x, y = 100 * acc, 100 * attack
        near = next((g for g in groups if abs(g[0] - x) < gap and abs(g[1] - y) < gap), None)
        if near is None:
            groups.append((x, y, [name]))
        else:
            near[2].append(name)
    return groups


def privacy_utility_png(points: Sequence[Point], path: str | Path, title: str = "Privacy vs utility",
                        limits: tuple[tuple[float, float], tuple[float, float]] | None = None,
                        numbered: bool = False) -> Path:
    """Worst-attack top-1 (y) against held-out accuracy (x), one labelled point per model, written atomically.
    The better corner (accurate and hard to invert) is the lower right; the axis labels say so. `limits`
    ((x0, x1), (y0, y1), in %) zooms in on points that the full 0-100 axes would pile up; `numbered` marks
    each point with its number and lists the names in a key, for many points whose names would overlap."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from hardener.files import atomic_output

    figure = Figure(figsize=(10 if numbered else 7, 5.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    ax = figure.subplots()
    for status in (None, True, False):
        chosen = [p for p in points if p[3] is status]
        if chosen:
            ax.scatter([100 * p[1] for p in chosen], [100 * p[2] for p in chosen], s=60, color=COLOURS[status],
                       marker="s" if status is None else "o", label=LEGEND[status], zorder=3)
    if numbered:
        for x, y, numbers in label_groups([(str(i), *p[1:]) for i, p in enumerate(points, 1)], gap=1.3):
            ax.annotate(",".join(numbers), (x, y), textcoords="offset points", xytext=(4, 5), fontsize=8)
        key = "\n".join(f"{i}  {p[0]}" for i, p in enumerate(points, 1))
        ax.text(1.02, 1.0, key, transform=ax.transAxes, fontsize=8, va="top", family="monospace")
    else:
        for x, y, names in label_groups(points):
            ax.annotate("\n".join(names), (x, y), textcoords="offset points", xytext=(6, 4), fontsize=9, va="bottom")
    (x0, x1), (y0, y1) = limits or ((-2, 105), (-2, 105))
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel("natural accuracy, held-out (%; higher is better)")
    ax.set_ylabel("worst attack top-1 on the protected classes (%; lower is better)")
    ax.set_title(title)
    ax.grid(True, color="0.9")
    ax.legend(loc="upper left", fontsize=9)
    with atomic_output(path) as tmp:
        figure.savefig(tmp, format="png")
    return Path(path)


LOG_FLOOR = 1e-3  # the log panel shows FPR and TPR from 0.1% up


def roc_png(curves: Mapping[str, "RocResult"], path: str | Path, title: str = "Membership inference ROC") -> Path:
    """Draw every attack's ROC twice, linear axes (left) and log-log (right, where low-FPR behaviour
    shows), with the chance diagonal and a legend giving each AUC and TPR@1%FPR; written atomically as PNG.
    matplotlib is imported here, not at module level, so the CLI starts without it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from hardener.files import atomic_output

    figure = Figure(figsize=(10, 5.2 + 0.25 * len(curves)), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)  # the Agg backend, without pyplot's global state
    figure.suptitle(title, fontsize=14)
    axes = figure.subplots(1, 2)
    for ax, log in zip(axes, (False, True)):
        _panel(ax, curves, log=log)
    handles, labels = axes[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="outside lower center", ncols=1, frameon=False, fontsize=10)
    with atomic_output(path) as tmp:
        figure.savefig(tmp, format="png")
    return Path(path)


def _panel(ax, curves: Mapping[str, "RocResult"], *, log: bool) -> None:
    scale = "log" if log else "linear"
    floor = LOG_FLOOR if log else 0.0
    ax.plot([floor, 1.0], [floor, 1.0], color="0.6", linewidth=1, linestyle="--", label="chance (AUC 0.500)")
    for i, (name, result) in enumerate(curves.items()):  # earlier curves wider, so identical curves stay visible
        fpr, tpr = result.fpr, result.tpr
        if log:  # zero rates sit on the panel's edge, as before
            fpr, tpr = np.maximum(fpr, LOG_FLOOR), np.maximum(tpr, LOG_FLOOR)
        ax.plot(fpr, tpr, color=f"C{i % 10}",
                linewidth=1.5 + 1.5 * (len(curves) - 1 - i), clip_on=False,  # a curve along an edge stays whole
                label=f"{name}  (AUC {result.auc:.3f}, TPR@1%FPR {result.tpr_at_fpr.get(0.01, float('nan')):.3f})")
    ticks = [1e-3, 1e-2, 1e-1, 1.0] if log else [0.0, 0.25, 0.5, 0.75, 1.0]
    if log:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.minorticks_off()
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_yticks(ticks, [f"{t:g}" for t in ticks])
    ax.set_xlim(floor, 1.0)
    ax.set_ylim(floor, 1.0)
    ax.set_box_aspect(1)
    ax.grid(True, color="0.9")
    ax.set_xlabel(f"false positive rate ({scale})")
    ax.set_ylabel(f"true positive rate ({scale})")
