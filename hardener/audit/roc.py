"""ROC analysis of a membership-inference attack, and the ROC plot. Torch-free (numpy + PIL).

Convention: an attack gives every audited example a score, higher meaning "more likely a member";
members are the positives. A threshold t predicts "member" for scores >= t.

TPR at a target FPR is read off the empirical ROC without interpolation: the highest TPR among the
thresholds whose FPR does not exceed the target (a conservative step reading, as in Carlini et al.
2022). With M non-members the FPRs reachable are 0, 1/M, 2/M, ...; a target below 1/M therefore
means "at FPR 0", i.e. the share of members scoring above every non-member. Reports carry M and the
FPR actually reached so a reader can judge how much a low-FPR number says.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

TARGET_FPRS = (0.001, 0.01)
CURVE_COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14), (23, 190, 207))


@dataclass
class RocResult:
    """One attack's ROC and the numbers a report shows."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auc: float
    balanced_accuracy: float
    tpr_at_fpr: dict[float, float] = field(default_factory=dict)
    fpr_reached: dict[float, float] = field(default_factory=dict)  # the FPR each TPR above was read at
    members: int = 0
    non_members: int = 0

    def to_dict(self) -> dict:
        """The metrics as plain JSON data (the curve itself goes into the PNG, not the report)."""
        return {
            "auc": round(self.auc, 6),
            "balanced_accuracy": round(self.balanced_accuracy, 6),
            "tpr_at_fpr": {f"{k:g}": round(v, 6) for k, v in self.tpr_at_fpr.items()},
            "fpr_reached": {f"{k:g}": round(v, 6) for k, v in self.fpr_reached.items()},
            "members": self.members,
            "non_members": self.non_members,
            "lowest_nonzero_fpr": round(1.0 / self.non_members, 6) if self.non_members else None,
        }


def roc_curve(member_scores: np.ndarray, non_member_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) for every distinct score, from (0, 0) to (1, 1); ties move both rates at once."""
    pos, neg = _scores(member_scores, "member"), _scores(non_member_scores, "non-member")
    scores = np.concatenate([pos, neg])
    is_member = np.concatenate([np.ones(len(pos), bool), np.zeros(len(neg), bool)])
    order = np.argsort(-scores, kind="mergesort")
    scores, is_member = scores[order], is_member[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(scores) != 0), len(scores) - 1]
    tp = np.cumsum(is_member)[last_of_tie]
    fp = np.cumsum(~is_member)[last_of_tie]
    tpr = np.r_[0.0, tp / len(pos)]
    fpr = np.r_[0.0, fp / len(neg)]
    thresholds = np.r_[np.inf, scores[last_of_tie]]
    return fpr, tpr, thresholds


def auc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Area under the ROC by the trapezoid rule (equals the Mann-Whitney probability, ties counting half)."""
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, target: float) -> tuple[float, float]:
    """(TPR, FPR reached): the highest TPR whose FPR is <= target, no interpolation (see module doc);
    the FPR is the lowest at which that TPR is reached."""
    allowed = fpr <= target + 1e-12
    best = int(np.argmax(np.where(allowed, tpr, -1.0)))
    return float(tpr[best]), float(fpr[best])


def balanced_accuracy(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """The best (TPR + TNR) / 2 over all thresholds: the attack's accuracy on a balanced member/non-member mix.
    The threshold is picked on the scored sets themselves, so this is >= 0.5 by construction (the all-"member"
    threshold gives exactly 0.5) and optimistic on small sets: scores with no signal often reach 0.55-0.6 on a
    few dozen examples. Read it next to the AUC, not alone."""
    return float(np.max((tpr + 1.0 - fpr) / 2.0))


def evaluate(member_scores: np.ndarray, non_member_scores: np.ndarray,
             targets: Sequence[float] = TARGET_FPRS) -> RocResult:
    """Everything a report needs about one attack's scores."""
    fpr, tpr, thresholds = roc_curve(member_scores, non_member_scores)
    result = RocResult(fpr, tpr, thresholds, auc(fpr, tpr), balanced_accuracy(fpr, tpr),
                       members=len(member_scores), non_members=len(non_member_scores))
    for target in targets:
        result.tpr_at_fpr[target], result.fpr_reached[target] = tpr_at_fpr(fpr, tpr, target)
    return result


def _scores(values: np.ndarray, what: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(values) == 0:
        raise ValueError(f"no {what} scores")
    if np.isnan(values).any():
        raise ValueError(f"{int(np.isnan(values).sum())} {what} scores are NaN")
    return values


# ---- the plot: PIL only --------------------------------------------------------------------------

PANEL = 420  # plot area side in pixels
MARGIN_LEFT, MARGIN_TOP, MARGIN_BOTTOM, GAP = 64, 60, 56, 80
LOG_FLOOR = 1e-3  # the log panel shows FPR and TPR from 0.1% up


def roc_png(curves: Mapping[str, RocResult], path: str | Path, title: str = "Membership inference ROC") -> Path:
    """Draw every attack's ROC twice, linear axes (left) and log-log (right, where low-FPR behaviour
    shows), with the chance diagonal and a legend giving each AUC; written atomically as PNG."""
    from PIL import Image, ImageDraw

    from hardener.report import save_png

    width = MARGIN_LEFT + PANEL + GAP + PANEL + 24
    height = MARGIN_TOP + PANEL + MARGIN_BOTTOM + 18 * max(len(curves), 1) + 12
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    font = _font(13)
    draw.text((MARGIN_LEFT, 10), title, fill="black", font=_font(16))
    left = (MARGIN_LEFT, MARGIN_TOP)
    right = (MARGIN_LEFT + PANEL + GAP, MARGIN_TOP)
    _panel(draw, left, curves, log=False, font=font)
    _panel(draw, right, curves, log=True, font=font)
    legend_y = MARGIN_TOP + PANEL + MARGIN_BOTTOM - 6
    for i, (name, result) in enumerate(curves.items()):
        colour = CURVE_COLOURS[i % len(CURVE_COLOURS)]
        y = legend_y + 18 * i
        draw.line([(MARGIN_LEFT, y + 7), (MARGIN_LEFT + 28, y + 7)], fill=colour, width=4)
        draw.text((MARGIN_LEFT + 36, y), f"{name}  (AUC {result.auc:.3f}, "
                  f"TPR@1%FPR {result.tpr_at_fpr.get(0.01, float('nan')):.3f})", fill="black", font=font)
    return save_png(np.asarray(image, dtype=np.uint8), path)


def _panel(draw, origin: tuple[int, int], curves: Mapping[str, RocResult], *, log: bool, font) -> None:
    x0, y0 = origin
    ticks = (1e-3, 1e-2, 1e-1, 1.0) if log else (0.0, 0.25, 0.5, 0.75, 1.0)
    for t in ticks:
        px, py = _to_px(t, t, origin, log)
        draw.line([(px, y0 + PANEL), (px, y0 + PANEL + 5)], fill="black")
        draw.line([(x0 - 5, py), (x0, py)], fill="black")
        draw.line([(px, y0 + 1), (px, y0 + PANEL - 1)], fill=(232, 232, 232))
        draw.line([(x0 + 1, py), (x0 + PANEL - 1, py)], fill=(232, 232, 232))
        text = f"{t:g}"
        draw.text((px - 4 * len(text), y0 + PANEL + 8), text, fill="black", font=font)
        draw.text((x0 - 10 - 8 * len(text), py - 8), text, fill="black", font=font)
    scale = "log" if log else "linear"
    draw.text((x0 + PANEL // 2 - 90, y0 + PANEL + 28), f"false positive rate ({scale})", fill="black", font=font)
    draw.text((x0, y0 - 18), f"true positive rate ({scale})", fill="black", font=font)
    diagonal = np.geomspace(LOG_FLOOR, 1.0, 50) if log else np.array([0.0, 1.0])
    _polyline(draw, diagonal, diagonal, origin, log, fill=(150, 150, 150), width=1)
    for i, result in enumerate(curves.values()):  # earlier curves wider, so identical curves stay visible
        _polyline(draw, result.fpr, result.tpr, origin, log, fill=CURVE_COLOURS[i % len(CURVE_COLOURS)],
                  width=2 + 2 * (len(curves) - 1 - i))
    draw.rectangle((x0, y0, x0 + PANEL, y0 + PANEL), outline="black")


def _polyline(draw, fpr: np.ndarray, tpr: np.ndarray, origin: tuple[int, int], log: bool, **style) -> None:
    """Join the ROC points (consecutive points differ in one rate only, or both for tied scores)."""
    points = [_to_px(float(x), float(y), origin, log) for x, y in zip(fpr, tpr)]
    if len(points) >= 2:
        draw.line(points, joint="curve", **style)


def _to_px(x: float, y: float, origin: tuple[int, int], log: bool) -> tuple[float, float]:
    if log:
        span = -np.log10(LOG_FLOOR)
        x = (np.log10(max(x, LOG_FLOOR)) + span) / span
        y = (np.log10(max(y, LOG_FLOOR)) + span) / span
    return origin[0] + x * PANEL, origin[1] + (1.0 - y) * PANEL


def _font(size: int):
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has only the fixed bitmap font
        return ImageFont.load_default()
