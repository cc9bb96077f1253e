"""Membership inference: does a model give away which faces it was trained on?

Two membership-inference attacks, each scoring every audited image (higher = "member"):

* threshold attacks: the model's confidence in the true label (softmax probability, float32 as an
  API would return it) and -loss (log-probability in float64). Both order examples the same way in
  exact arithmetic; they differ where float32 saturates near p = 1, which overfit models reach.
* LiRA, online variant (Carlini et al. 2022): K shadow models of the same architecture are trained
  on random halves of a pool (members, non-members and optional reference images); per example, a
  Gaussian is fitted to the logit-scaled confidence phi of the shadows that trained on it ("in") and
  one to those that did not ("out"), and the score is the log likelihood ratio of the target model's
  phi under in vs out.

Reported per attack: ROC AUC (raw: below 0.5 means members score lower), the best-threshold balanced
accuracy (>= 0.5 by construction and optimistic on small sets, see BALANCED_ACCURACY_NOTE) and TPR at
low FPRs; `max_auc` is the largest max(auc, 1 - auc), since an attacker can flip any threshold.

This module holds the threshold attacks, `mia_auc` (what the release gate runs) and the input checks;
LiRA is in `hardener.audit.lira`, the whole command in `hardener.jobs.audit_mia`. The scores work on
plain arrays so they can be checked on synthetic numbers.
"""
from __future__ import annotations

import hashlib

import numpy as np
import torch

from hardener.audit.roc import RocResult, evaluate
from hardener.data import FaceDataset
from hardener.device import evaluating
from hardener.errors import InputError

EVAL_BATCH = 256
TPR_NOTE = ("TPR at a target FPR is the highest TPR among thresholds whose empirical FPR is <= the target "
            "(no interpolation); with M non-members the lowest non-zero FPR is 1/M, so a target below 1/M "
            "is read at FPR 0 (see fpr_reached and lowest_nonzero_fpr)")
BALANCED_ACCURACY_NOTE = ("balanced_accuracy is the best (TPR + TNR) / 2 over all thresholds, the threshold chosen on "
                         "the audited sets themselves: it is >= 0.5 by construction and optimistic on small sets (an "
                         "attack with no signal can show 0.6 on a few dozen images); read it next to the AUC")
MAX_AUC_NOTE = ("max_auc is the largest max(auc, 1 - auc) over the attacks: an attack whose AUC is below 0.5 leaks as "
                "much as its mirror image above 0.5, since the attacker only flips the threshold; 0.5 = no leak. The "
                "attacks' own AUCs are reported raw")


# ---- scores from logits (pure) -------------------------------------------------------------------

def confidence_scores(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Softmax probability of the true label, computed in float32 like a deployed model returns it."""
    z = np.asarray(logits, dtype=np.float32)
    z = z - z.max(axis=1, keepdims=True)
    p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    return p[np.arange(len(z)), _labels(labels, len(z))].astype(np.float64)


def loss_scores(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """-cross-entropy = log p(true label), in float64 so confident examples stay distinguishable."""
    z = np.asarray(logits, dtype=np.float64)
    return z[np.arange(len(z)), _labels(labels, len(z))] - _logsumexp(z)


def logit_confidence(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """LiRA's phi = log(p / (1 - p)) for the true label, as z_y - logsumexp_{j != y} z_j: the same number
    without clipping p, and finite even where p rounds to 1."""
    z = np.asarray(logits, dtype=np.float64)
    rows, y = np.arange(len(z)), _labels(labels, len(z))
    others = z.copy()
    others[rows, y] = -np.inf
    return z[rows, y] - _logsumexp(others)


def _logsumexp(z: np.ndarray) -> np.ndarray:
    top = z.max(axis=1, keepdims=True)
    return (top + np.log(np.exp(z - top).sum(axis=1, keepdims=True)))[:, 0]


def _labels(labels: np.ndarray, n: int) -> np.ndarray:
    labels = np.asarray(labels, dtype=np.int64).reshape(-1)
    if len(labels) != n:
        raise ValueError(f"{n} rows of logits but {len(labels)} labels")
    return labels


# ---- models --------------------------------------------------------------------------------------

def model_logits(model: torch.nn.Module, images: np.ndarray, device: torch.device | str = "cpu",
                 batch_size: int = EVAL_BATCH) -> np.ndarray:
    """Logits (float64, N x classes) for uint8 NHWC images, batched, in eval mode; restores each module's
    mode and the model's device afterwards (see `evaluating`)."""
    from hardener.data import to_model_input

    size = model.spec.image_size
    with evaluating(model, device):
        chunks = [model(to_model_input(images[i:i + batch_size], size).to(device)).double().cpu()
                  for i in range(0, len(images), batch_size)]
    return torch.cat(chunks).numpy() if chunks else np.zeros((0, model.num_classes))


def threshold_results(model: torch.nn.Module, members: FaceDataset, non_members: FaceDataset,
                      device: torch.device | str = "cpu") -> dict[str, RocResult]:
    """ROC of the confidence and -loss attacks (refusing a model whose logits are not finite)."""
    logits_m = model_logits(model, members.images, device)
    logits_n = model_logits(model, non_members.images, device)
    for logits, data in ((logits_m, members), (logits_n, non_members)):
        bad = ~np.isfinite(logits).all(axis=1)
        if bad.any():
            raise InputError(f"the model outputs non-finite logits (NaN or inf) for {int(bad.sum())} of "
                             f"{len(data)} images", where=data.source,
                             fix="audit a model whose weights are finite (retrain it with a lower learning rate)")
    results = {name: evaluate(score(logits_m, members.labels), score(logits_n, non_members.labels))
               for name, score in (("confidence", confidence_scores), ("loss", loss_scores))}
    return results


def leak_auc(auc: float) -> float:
    """How far an attack's AUC is from chance in either direction: max(auc, 1 - auc), 0.5 to 1."""
    return max(auc, 1.0 - auc)


def strongest_attack(aucs: dict[str, float]) -> tuple[str, float]:
    """(name, max(auc, 1 - auc)) of the attack that leaks most; see MAX_AUC_NOTE."""
    name = max(aucs, key=lambda a: leak_auc(aucs[a]))
    return name, round(leak_auc(aucs[name]), 6)


def mia_auc(model, members: FaceDataset, non_members: FaceDataset, device: torch.device | str = "cpu") -> dict:
    """The threshold attacks' metrics (no shadows) for a release gate: `max_auc` is the strongest attack's
    max(auc, 1 - auc) (an AUC below 0.5 leaks too: the attacker flips the threshold), 0.5 meaning the
    model does not tell its training faces from held-out ones; `max_auc_attack` names that attack and
    each attack's raw AUC is under `attacks`. `model` is a FaceModel or a LoadedModel."""
    from hardener.loading import LoadedModel

    model = model.model if isinstance(model, LoadedModel) else model
    check_audit_sets(members, non_members, model.num_classes)
    results = threshold_results(model, members, non_members, device)
    attacks = {name: r.to_dict() for name, r in results.items()}
    name, max_auc = strongest_attack({a: m["auc"] for a, m in attacks.items()})
    return {"attacks": attacks, "max_auc": max_auc, "max_auc_attack": name, "max_auc_note": MAX_AUC_NOTE,
            "members": len(members), "non_members": len(non_members), "tpr_note": TPR_NOTE,
            "balanced_accuracy_note": BALANCED_ACCURACY_NOTE}


# ---- input checks --------------------------------------------------------------------------------

def check_audit_sets(members: FaceDataset, non_members: FaceDataset, num_classes: int,
                     reference: FaceDataset | None = None) -> None:
    """Refuse what would make the audit meaningless: empty sets, labels the model lacks, an image
    counted as both member and non-member, reference images that are also audited."""
    sets = {"--members": members, "--non-members": non_members}
    if reference is not None:
        sets["--reference"] = reference
    for option, data in sets.items():
        if len(data) == 0:
            raise InputError("the set holds no images", where=option, fix="give at least one labelled image")
        outside = (data.labels < 0) | (data.labels >= num_classes)
        if outside.any():
            raise InputError(f"{int(outside.sum())} labels are outside the model's {num_classes} classes "
                             f"(e.g. {int(data.labels[outside][0])})", where=f"{option} {data.source}",
                             fix=f"label images with the model's class indices 0..{num_classes - 1}")
    member_hashes = set(image_hashes(members.images))
    shared = sum(h in member_hashes for h in image_hashes(non_members.images))
    if shared:
        raise InputError(f"members and non-members overlap: {shared} non-member image(s) are pixel-identical to "
                         "member images", where="--members/--non-members",
                         fix="remove the duplicates: an image cannot be both trained on and held out")
    if reference is not None:
        audited = member_hashes | set(image_hashes(non_members.images))
        reused = sum(h in audited for h in image_hashes(reference.images))
        if reused:
            raise InputError(f"{reused} reference image(s) are also audited members or non-members",
                             where="--reference",
                             fix="reference images only train shadows; remove the audited ones from it")


def image_hashes(images: np.ndarray) -> list[bytes]:
    """One digest per image over its exact bytes and shape."""
    return [hashlib.sha256(repr(img.shape).encode() + np.ascontiguousarray(img).tobytes()).digest() for img in images]
