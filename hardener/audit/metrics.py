"""How well an attack's reconstructions reveal the private identities, judged by an evaluation model.

The evaluation model E is an independent classifier (another architecture) trained on the private
data, as in the model-inversion literature. Every reconstruction row (class x restart) is scored:

- `top1` / `top5`: E ranks the row's target class first / among its top min(5, C) classes. Ties with
  another class count against the attack, and rows with non-finite logits count as misses.
- `any_restart_top1`: the fraction of attacked classes with at least one top-1 correct restart. It is
  kept apart from `top1` (which counts rows) because it grows with the number of restarts.
- `knn_distance`: L2 distance in E's feature space to the nearest private image of the same class.
- `sure_top1`: the top-1 hits E is as sure of as of nine in ten of the person's own private images (its margin,
  the target's logit over the highest other, at least their 10th percentile), and `recovered_margin` the median
  margin of the hits. Why: a top-1 hit can be a coin flip between two classes on an image that shows no one; on
  LFW most reconstructions recovered from decoy-hardened models sat at margins of 0-1 where E's margins on the
  person's held-out photos start at about 3 (docs/MEASUREMENTS.md, "Session 51"). Context only: no gate reads it.
- `cross_top1`: per class c, the share of the reconstructions aimed at the other attacked classes that E names c
  (top-1), and overall its mean over the classes (NaN with one class): the rate at which E names c on images of
  someone else, the floor beside c's `top1`. Why: on LFW the evaluation model named one protected person on 3-12 %
  of the reconstructions of the other four, hardened or not (docs/MEASUREMENTS.md, "Session 52"), so a top-1 near
  that floor is E's habit more than the person. Context only: no gate reads it.
- `feature_frechet_distance`: the Fréchet distance between Gaussian fits of E's features of all
  reconstructions and of the private images of the attacked classes. It is not FID (no Inception
  network is involved; see `hardener.audit.fid` for that), and its value depends on E.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from hardener.arch import FaceModel
from hardener.data.datasets import FaceDataset, to_model_input
from hardener.device import evaluating
from hardener.errors import InputError
from hardener.attacks.engine import InversionResult

TOP_K = 5
SURE_QUANTILE = 0.1  # a hit is sure when E's margin is at least this quantile of its margins on the person's images


@dataclass
class AttackMetrics:
    top1: float  # fraction of all rows (class x restart) that E classifies as their target
    top5: float  # fraction of rows whose target is in E's top `topk` classes
    any_restart_top1: float  # fraction of classes with at least one top-1 correct restart
    knn_distance: float  # mean over rows of the nearest same-class private image distance in E's features
    feature_frechet_distance: float  # NaN when either side has fewer than 2 samples (see notes)
    per_class: dict[int, dict[str, float]]  # class -> top1, top5, confidence, knn_distance
    topk: int = TOP_K  # the k actually used for `top5`: min(5, number of classes of E)
    rows: int = 0  # reconstructions scored
    private_images: int = 0  # private images of the attacked classes (the reference set)
    notes: list[str] = field(default_factory=list)
    sure_top1: float = math.nan  # fraction of rows that are top-1 hits at a margin E gives the person's own images
    recovered_margin: float = math.nan  # median of E's margin over the top-1 hits (NaN without hits)
    cross_top1: float = math.nan  # mean over classes of the share of other classes' rows E names the class

    @property
    def classes(self) -> list[int]:
        return list(self.per_class)

    def to_dict(self) -> dict[str, Any]:
        """Plain, strict-JSON data: class keys become strings and NaN (or inf) becomes None."""
        return {
            "top1": _json_float(self.top1),
            "top5": _json_float(self.top5),
            "any_restart_top1": _json_float(self.any_restart_top1),
            "knn_distance": _json_float(self.knn_distance),
            "sure_top1": _json_float(self.sure_top1),
            "recovered_margin": _json_float(self.recovered_margin),
            "cross_top1": _json_float(self.cross_top1),
            "feature_frechet_distance": _json_float(self.feature_frechet_distance),
            "topk": self.topk,
            "rows": self.rows,
            "private_images": self.private_images,
            "per_class": {str(c): {k: _json_float(v) for k, v in values.items()} for c, values in self.per_class.items()},
            "notes": list(self.notes),
        }


def attack_metrics(result: InversionResult, eval_model: FaceModel, private: FaceDataset, *,
                   device: torch.device | str = "cpu", batch_size: int = 128) -> AttackMetrics:
    """Score every reconstruction in `result` with the evaluation model against the private data."""
    if batch_size < 1:
        raise InputError(f"batch size {batch_size} is below 1", fix="use a batch size of at least 1")
    device = torch.device(device)
    targets, images = _check_result(result)
    num_classes = int(eval_model.num_classes)
    labels = _check_private(private, num_classes)
    outside = sorted({int(c) for c in targets.tolist() if not 0 <= c < num_classes})
    if outside:
        raise InputError(f"attacked class{_plural(outside)} {_join(outside)} {'are' if len(outside) > 1 else 'is'} "
                         f"outside the evaluation model's {num_classes} classes (0..{num_classes - 1})", fix="evaluate with a model trained on the attacked identities")
    classes = list(dict.fromkeys(int(c) for c in targets.tolist()))
    missing = [c for c in classes if not np.any(labels == c)]
    if missing:
        raise InputError(f"no private image of attacked class{_plural(missing)} {_join(missing)}", where=private.source,
                         fix="attack only classes that the private dataset holds, or pass the full private dataset")

    size = int(eval_model.spec.image_size)
    notes: list[str] = []
    if tuple(images.shape[-2:]) != (size, size):
        notes.append(f"reconstructions resized from {images.shape[-2]}x{images.shape[-1]} to {size}x{size} px "
                     "for the evaluation model")
    private_rows = np.flatnonzero(np.isin(labels, classes))
    private_labels = torch.from_numpy(labels[private_rows])

    with evaluating(eval_model, device):
        features, logits = _reconstruction_outputs(eval_model, images, size, device, batch_size)
        private_features, private_logits = _private_outputs(eval_model, private.images, private_rows, size, device,
                                                            batch_size)

    k = min(TOP_K, num_classes)
    top1_hits, topk_hits = target_hits(logits, targets, k)
    non_finite = int((~torch.isfinite(logits).all(1)).sum())
    if non_finite:
        notes.append(f"the evaluation model gave non-finite logits for {non_finite} reconstruction(s); "
                     "they count as misses")
    confidence = logits.double().softmax(1).gather(1, targets[:, None]).squeeze(1)
    margins, photo_margins = class_margins(logits, targets), class_margins(private_logits, private_labels)
    sure = torch.zeros(len(targets), dtype=torch.bool)
    knn = torch.empty(len(targets), dtype=torch.float64)

    per_class: dict[int, dict[str, float]] = {}
    any_hit = []
    for c in classes:
        rows = (targets == c).nonzero().view(-1)
        reference = private_features[private_labels == c].double()
        distances = torch.cdist(features[rows].double(), reference, compute_mode="donot_use_mm_for_euclid_dist")
        knn[rows] = distances.min(1).values
        bar = float(torch.quantile(photo_margins[private_labels == c].double(), SURE_QUANTILE))
        sure[rows] = top1_hits[rows] & (margins[rows] >= bar)
        per_class[c] = {
            "top1": _mean(top1_hits[rows]),
            "top5": _mean(topk_hits[rows]),
            "confidence": _mean(confidence[rows]),
            "knn_distance": _mean(knn[rows]),
            "sure_top1": _mean(sure[rows]),
            "photo_margin": bar,  # the margin a hit needs to count as sure
            "cross_top1": _named_on_others(logits, targets, c),
        }
        any_hit.append(bool(top1_hits[rows].any()))

    rows_total, references = len(targets), len(private_rows)
    frechet = feature_frechet_distance(features, private_features)
    dim = features.shape[1]
    if math.isnan(frechet):
        notes.append(f"feature_frechet_distance is NaN: it needs at least 2 reconstructions and 2 private images "
                     f"(got {rows_total} and {references})")
    elif min(rows_total, references) <= dim:
        notes.append(f"feature_frechet_distance fits {dim}-dimensional Gaussians to {rows_total} reconstructions "
                     f"and {references} private images: the covariances are rank-deficient, so compare it only "
                     "between runs with the same sample counts")
    return AttackMetrics(
        top1=_mean(top1_hits), top5=_mean(topk_hits), any_restart_top1=sum(any_hit) / len(any_hit),
        knn_distance=_mean(knn), feature_frechet_distance=frechet, per_class=per_class, topk=k,
        rows=rows_total, private_images=references, notes=notes, sure_top1=_mean(sure),
        recovered_margin=float(torch.quantile(margins[top1_hits].double(), 0.5)) if bool(top1_hits.any()) else math.nan,
        cross_top1=float(np.mean([v["cross_top1"] for v in per_class.values()])),
    )


def class_margins(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Each row's logit for its target minus its highest other logit (inf with one class): how sure E is."""
    logits = logits.float()
    others = logits.scatter(1, targets.view(-1, 1), float("-inf")).amax(1)
    return logits.gather(1, targets.view(-1, 1)).squeeze(1) - others


def target_hits(logits: torch.Tensor, targets: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(top-1 hit, top-k hit) per row. A class tied with the target ranks ahead of it, so a hit is never
    a tie-break accident; a row with any non-finite logit is a miss."""
    logits = logits.float()
    target_logit = logits.gather(1, targets.view(-1, 1))
    rank = (logits > target_logit).sum(1) + (logits == target_logit).sum(1) - 1
    finite = torch.isfinite(logits).all(1)
    return (rank < 1) & finite, (rank < k) & finite


def _named_on_others(logits: torch.Tensor, targets: torch.Tensor, c: int) -> float:
    """The share of the rows aimed at other classes than c that E names c (top-1, ties against; NaN without any)."""
    others = targets != c
    if not bool(others.any()):
        return math.nan
    named, _ = target_hits(logits[others], torch.full((int(others.sum()),), c, dtype=torch.long), 1)
    return _mean(named)


# --- Fréchet distance ----------------------------------------------------------------------------

def frechet_distance(mu1: torch.Tensor, sigma1: torch.Tensor, mu2: torch.Tensor, sigma2: torch.Tensor) -> float:
    """Fréchet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2), in float64:

    ||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr(sqrtm(S1 S2)), where Tr(sqrtm(S1 S2)) is the sum of the
    square roots of the eigenvalues of the symmetric PSD matrix sqrt(S1) S2 sqrt(S1).
    """
    mu1, mu2 = _vector(mu1, "mu1"), _vector(mu2, "mu2")
    dim = mu1.numel()
    if mu2.numel() != dim:
        raise InputError(f"the means have {dim} and {mu2.numel()} dimensions", fix="compare features of one space")
    s1, s2 = _covariance(sigma1, dim, "sigma1"), _covariance(sigma2, dim, "sigma2")
    eigenvalues, eigenvectors = torch.linalg.eigh(s1)
    root1 = (eigenvectors * eigenvalues.clamp(min=0).sqrt()) @ eigenvectors.T
    middle = root1 @ s2 @ root1
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    diff = mu1 - mu2
    value = diff @ diff + torch.trace(s1) + torch.trace(s2) - 2 * trace_sqrt
    return max(float(value), 0.0)


def feature_frechet_distance(a: torch.Tensor, b: torch.Tensor) -> float:
    """Fréchet distance between the Gaussian fits (mean, unbiased covariance) of two feature sets
    (N, D) and (M, D); NaN when either has fewer than 2 samples.

    With few samples (N * M <= D^2) it uses an exact low-rank form instead of D x D matrices: with
    S1 = A A^T and S2 = B B^T (A, B the centred samples over sqrt(n - 1)), the eigenvalues of
    sqrt(S1) S2 sqrt(S1) are the squared singular values of B^T A, so Tr(sqrtm(S1 S2)) = ||B^T A||_*.
    """
    a, b = _samples(a, "first"), _samples(b, "second")
    if a.shape[1] != b.shape[1]:
        raise InputError(f"feature sets have {a.shape[1]} and {b.shape[1]} dimensions", fix="compare features of one space")
    n1, n2, dim = a.shape[0], b.shape[0], a.shape[1]
    if n1 < 2 or n2 < 2:
        return float("nan")
    mu1, mu2 = a.mean(0), b.mean(0)
    x1 = (a - mu1) / math.sqrt(n1 - 1)  # S1 = x1^T x1
    x2 = (b - mu2) / math.sqrt(n2 - 1)
    if n1 * n2 <= dim * dim:
        trace_sqrt = torch.linalg.svdvals(x2 @ x1.T).sum()
        diff = mu1 - mu2
        value = diff @ diff + (x1 * x1).sum() + (x2 * x2).sum() - 2 * trace_sqrt
        return max(float(value), 0.0)
    return frechet_distance(mu1, x1.T @ x1, mu2, x2.T @ x2)


# --- helpers -------------------------------------------------------------------------------------

def _check_result(result: InversionResult) -> tuple[torch.Tensor, torch.Tensor]:
    targets = torch.as_tensor(result.targets).reshape(-1).long().cpu()
    images = result.images
    if len(targets) == 0:
        raise InputError("the attack result holds no reconstructions", fix="attack at least one class")
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] != 3:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise InputError(f"reconstructions have shape {shape}, expected (rows, 3, H, W)",
                         fix="pass the InversionResult of an attack")
    if images.shape[0] != len(targets):
        raise InputError(f"{images.shape[0]} reconstructions for {len(targets)} target rows",
                         fix="pass an InversionResult whose images and targets match")
    if not images.is_floating_point() or not bool(torch.isfinite(images).all()):
        raise InputError("reconstructions must be finite floating-point images in [0, 1]",
                         fix="check the generator's output")
    return targets, images


def _check_private(private: FaceDataset, num_classes: int) -> np.ndarray:
    labels = np.asarray(private.labels).reshape(-1)
    if len(labels) == 0:
        raise InputError("the private dataset holds no images", where=private.source, fix="pass the private training data")
    if len(labels) != len(private.images):
        raise InputError(f"{len(private.images)} private images but {len(labels)} labels", where=private.source,
                         fix="give one label per image")
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        bad = low if low < 0 else high
        raise InputError(f"private label {bad} is outside the evaluation model's label space 0..{num_classes - 1}",
                         where=private.source,
                         fix="use an evaluation model trained on this private dataset, with its labels")
    return labels.astype(np.int64)


def _reconstruction_outputs(model: FaceModel, images: torch.Tensor, size: int, device: torch.device,
                            batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    features, logits = [], []
    for start in range(0, len(images), batch_size):
        x = images[start:start + batch_size].float()
        if tuple(x.shape[-2:]) != (size, size):
            x = nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True,
                                          align_corners=False).clamp_(0.0, 1.0)
        f = model.forward_features(x.to(device)).flatten(1)
        logits.append(model.forward_head(f).float().cpu())
        features.append(f.float().cpu())
    return torch.cat(features), torch.cat(logits)


def _private_outputs(model: FaceModel, images: np.ndarray, rows: np.ndarray, size: int, device: torch.device,
                     batch_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    features = [model.forward_features(to_model_input(images[chunk], size).to(device)).flatten(1)
                for chunk in _chunks(rows, batch_size)]
    return (torch.cat([f.float().cpu() for f in features]),
            torch.cat([model.forward_head(f).float().cpu() for f in features]))


def _chunks(rows: np.ndarray, size: int) -> Iterator[np.ndarray]:
    for start in range(0, len(rows), size):
        yield rows[start:start + size]


def _samples(x: torch.Tensor, which: str) -> torch.Tensor:
    x = torch.as_tensor(x)
    if x.dim() != 2:
        raise InputError(f"the {which} feature set has shape {tuple(x.shape)}, expected (samples, dims)",
                         fix="pass one feature vector per row")
    return x.detach().to("cpu", torch.float64)


def _vector(x: torch.Tensor, name: str) -> torch.Tensor:
    return torch.as_tensor(x).detach().to("cpu", torch.float64).reshape(-1)


def _covariance(x: torch.Tensor, dim: int, name: str) -> torch.Tensor:
    x = torch.as_tensor(x).detach().to("cpu", torch.float64)
    if x.shape != (dim, dim):
        raise InputError(f"{name} has shape {tuple(x.shape)}, expected ({dim}, {dim})", fix="pass a square covariance")
    return (x + x.T) / 2


def _mean(x: torch.Tensor) -> float:
    return float(x.double().mean())


def _json_float(x: float) -> float | None:
    return float(x) if math.isfinite(x) else None


def _plural(items: list) -> str:
    return "es" if len(items) > 1 else ""


def _join(items: list[int]) -> str:
    shown = ", ".join(str(i) for i in items[:10])
    return shown + (f" ... ({len(items)} in all)" if len(items) > 10 else "")
