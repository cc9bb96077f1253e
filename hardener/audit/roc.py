"""ROC analysis of a membership-inference attack. Torch-free: the curve and its area come from
scikit-learn (the plot is report/plots.py:roc_png).

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
from typing import Sequence

import numpy as np
from sklearn import metrics

TARGET_FPRS = (0.001, 0.01)


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
    """(fpr, tpr, thresholds) for every distinct score, from (0, 0) to (1, 1); ties move both rates at once.
    Every threshold is kept (sklearn drops collinear ones by default), so the TPR@FPR reading sees them all."""
    return _curve(*_ranked(member_scores, non_member_scores))


def auc(fpr: np.ndarray, tpr: np.ndarray) -> float:
    """Area under a drawn ROC by the trapezoid rule (equals the Mann-Whitney probability, ties counting half)."""
    return float(metrics.auc(fpr, tpr))


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
    labels, ranks, values = _ranked(member_scores, non_member_scores)
    fpr, tpr, thresholds = _curve(labels, ranks, values)
    result = RocResult(fpr, tpr, thresholds, float(metrics.roc_auc_score(labels, ranks)),
                       balanced_accuracy(fpr, tpr), members=len(member_scores), non_members=len(non_member_scores))
    for target in targets:
        result.tpr_at_fpr[target], result.fpr_reached[target] = tpr_at_fpr(fpr, tpr, target)
    return result


def _ranked(member_scores: np.ndarray, non_member_scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(labels, ranks, distinct scores): members labelled 1 (the positives), and each score replaced by its rank
    among the distinct scores. The ROC depends on the order alone, and sklearn refuses infinite scores."""
    pos, neg = _scores(member_scores, "member"), _scores(non_member_scores, "non-member")
    values, ranks = np.unique(np.concatenate([pos, neg]), return_inverse=True)
    return np.r_[np.ones(len(pos), np.int8), np.zeros(len(neg), np.int8)], ranks, values


def _curve(labels: np.ndarray, ranks: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    fpr, tpr, at = metrics.roc_curve(labels, ranks, drop_intermediate=False)
    return fpr, tpr, np.r_[np.inf, values[at[1:].astype(np.intp)]]


def _scores(values: np.ndarray, what: str) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64).reshape(-1)
    if len(values) == 0:
        raise ValueError(f"no {what} scores")
    if np.isnan(values).any():
        raise ValueError(f"{int(np.isnan(values).sum())} {what} scores are NaN")
    return values
