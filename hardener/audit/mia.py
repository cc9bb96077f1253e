"""`hardener audit-mia`: does a model give away which faces it was trained on?

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

The math (`confidence_scores`, `logit_confidence`, `lira_scores`, `shadow_masks`) works on plain
arrays so it can be checked on synthetic numbers; the training and the whole command live below it.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from hardener.audit.roc import TARGET_FPRS, RocResult, evaluate
from hardener.data import FaceDataset
from hardener.device import evaluating
from hardener.errors import InputError
from hardener.progress import ProgressEvent, ProgressFn, no_progress
from hardener.train import TrainConfig

# Per-example variances need many shadows to be trustworthy; Carlini et al. switch to one global
# variance below 64 shadows. We use an example's own variance once it has this many values on that side.
PER_EXAMPLE_VARIANCE_MIN = 16
VARIANCE_FLOOR = 1e-4  # phi is in logit units; keeps the Gaussians proper when shadows agree exactly
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
LIRA_NOTE = ("online LiRA: per example, Gaussians on the shadows' phi = log(p/(1-p)) of the true label, "
             "'in' from shadows trained on it and 'out' from the others; score = log N(target; in) - "
             "log N(target; out). Variance: an example's own once it has >= {min} values on that side, "
             "else the pooled within-example variance of that side over all examples (a global variance, "
             "as LiRA does for few shadows), or, when no example has two values on that side (K = 2), "
             "the variance of all that side's values. A missing in (or out) mean is imputed as the "
             "out (in) mean plus (minus) the average in-out gap.")


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


# ---- LiRA (pure) ---------------------------------------------------------------------------------

@dataclass
class LiraScores:
    """LiRA's scores plus how often it had to fall back, for the report."""

    scores: np.ndarray
    own_variance_in: int = 0  # examples whose "in" variance was their own
    own_variance_out: int = 0
    imputed_in_mean: int = 0  # examples no shadow trained on
    imputed_out_mean: int = 0  # examples every shadow trained on
    global_std_in: float = 0.0
    global_std_out: float = 0.0

    def summary(self) -> dict:
        return {k: (round(v, 6) if isinstance(v, float) else v) for k, v in asdict(self).items() if k != "scores"}


def shadow_masks(n: int, k: int, seed: int = 0) -> np.ndarray:
    """(k, n) bool, row i = the examples shadow i trains on. Balanced as in LiRA's code: every example is
    in k//2 shadows (k even), or alternately k//2 and k//2 + 1 (k odd), so each shadow gets about half."""
    if k < 2:
        raise ValueError("LiRA needs at least 2 shadow models")
    rng = np.random.default_rng(seed)
    ranks = np.argsort(rng.random((k, n)), axis=0).argsort(axis=0)  # a random permutation of 0..k-1 per column
    k_in = np.full(n, k // 2)
    if k % 2:
        k_in[rng.permutation(n)[: n // 2]] += 1
    return ranks < k_in[None, :]


def lira_scores(shadow_phi: np.ndarray, in_mask: np.ndarray, target_phi: np.ndarray, *,
                per_example_min: int = PER_EXAMPLE_VARIANCE_MIN) -> LiraScores:
    """Online LiRA from a (K, N) matrix of shadow phis, the (K, N) mask of which shadow trained on which
    example, and the target model's (N,) phis. See LIRA_NOTE for the fallbacks."""
    phi = np.asarray(shadow_phi, dtype=np.float64)
    mask = np.asarray(in_mask, dtype=bool)
    target = np.asarray(target_phi, dtype=np.float64).reshape(-1)
    if phi.ndim != 2 or phi.shape != mask.shape or phi.shape[1] != len(target):
        raise ValueError(f"shapes do not fit: phi {phi.shape}, mask {mask.shape}, target {target.shape}")
    if not (np.isfinite(phi).all() and np.isfinite(target).all()):
        raise ValueError("phi values must be finite")
    mu_in, n_in = _side_means(phi, mask)
    mu_out, n_out = _side_means(phi, ~mask)
    both = (n_in > 0) & (n_out > 0)
    if not both.any():
        raise ValueError("no example has both shadows that trained on it and shadows that did not")
    gap = float(np.mean(mu_in[both] - mu_out[both]))
    mu_in = np.where(n_in > 0, mu_in, mu_out + gap)
    mu_out = np.where(n_out > 0, mu_out, mu_in - gap)
    var_in, own_in, global_in = _side_variances(phi, mask, n_in, per_example_min)
    var_out, own_out, global_out = _side_variances(phi, ~mask, n_out, per_example_min)
    scores = _log_normal(target, mu_in, var_in) - _log_normal(target, mu_out, var_out)
    return LiraScores(scores, int(own_in.sum()), int(own_out.sum()), int((n_in == 0).sum()), int((n_out == 0).sum()),
                      float(np.sqrt(global_in)), float(np.sqrt(global_out)))


def _side_means(phi: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    count = mask.sum(axis=0)
    total = np.where(mask, phi, 0.0).sum(axis=0)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan), count


def _side_variances(phi: np.ndarray, mask: np.ndarray, count: np.ndarray,
                    per_example_min: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(variance per example, which used their own, the global variance)."""
    mean = np.where(mask, phi, 0.0).sum(axis=0) / np.maximum(count, 1)
    squares = np.where(mask, (phi - mean) ** 2, 0.0).sum(axis=0)
    own = np.maximum(squares / np.maximum(count - 1, 1), VARIANCE_FLOOR)
    several = count >= 2
    if several.any():  # pooled within-example variance
        global_var = float(squares[several].sum() / (count[several] - 1).sum())
    elif mask.sum() >= 2:  # one value per example: the spread of all of them (LiRA's reference code)
        global_var = float(np.var(phi[mask]))
    else:
        global_var = 1.0
    global_var = max(global_var, VARIANCE_FLOOR)
    use_own = count >= max(per_example_min, 2)
    return np.where(use_own, own, global_var), use_own, global_var


def _log_normal(x: np.ndarray, mu: np.ndarray, var: np.ndarray) -> np.ndarray:
    return -0.5 * (np.log(2 * np.pi * var) + (x - mu) ** 2 / var)


# ---- models --------------------------------------------------------------------------------------

@torch.no_grad()
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
                      device: torch.device | str = "cpu") -> tuple[dict[str, RocResult], np.ndarray]:
    """ROC of the confidence and -loss attacks, plus the audited logits (members first) for LiRA."""
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
    return results, np.concatenate([logits_m, logits_n])


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
    from hardener.io import LoadedModel

    model = model.model if isinstance(model, LoadedModel) else model
    check_audit_sets(members, non_members, model.num_classes)
    results, _ = threshold_results(model, members, non_members, device)
    attacks = {name: r.to_dict() for name, r in results.items()}
    name, max_auc = strongest_attack({a: m["auc"] for a, m in attacks.items()})
    return {"attacks": attacks, "max_auc": max_auc, "max_auc_attack": name, "max_auc_note": MAX_AUC_NOTE,
            "members": len(members), "non_members": len(non_members), "tpr_note": TPR_NOTE,
            "balanced_accuracy_note": BALANCED_ACCURACY_NOTE}


def new_shadow(target: torch.nn.Module, seed: int) -> torch.nn.Module:
    """An untrained model like the target: same architecture, variant, classes, input size and spec."""
    from hardener.io import build_model

    torch.manual_seed(seed)
    shadow = build_model(target.arch, target.variant, target.num_classes, target.spec.image_size)
    shadow.set_spec(target.spec)
    return shadow


def shadow_phis(target: torch.nn.Module, pool: FaceDataset, masks: np.ndarray, audited: int, config: TrainConfig,
                device: torch.device | str = "cpu", progress: ProgressFn = no_progress) -> np.ndarray:
    """Train one shadow per mask row on those pool images; return (K, audited) phis of the first
    `audited` pool images. Each shadow is dropped once scored, so memory stays at one model."""
    from hardener.data import subset
    from hardener.train import train_classifier

    check_shadow_halves(pool, masks)
    k = len(masks)
    phis = np.empty((k, audited))
    images, labels = pool.images[:audited], pool.labels[:audited]
    progress(ProgressEvent("shadow models", 0, k))
    for i in range(k):
        rows = np.flatnonzero(masks[i])
        shadow = new_shadow(target, config.seed + i)
        train_classifier(shadow, subset(pool, rows, note=f"shadow {i + 1}"),
                         config=replace(config, seed=config.seed + i), device=device,
                         progress=_renamed(progress, f"shadow {i + 1}/{k}"))
        phis[i] = logit_confidence(model_logits(shadow, images, device), labels)
        del shadow
        if not np.isfinite(phis[i]).all():
            raise InputError(f"shadow {i + 1} of {k} diverged (non-finite confidences on "
                             f"{int((~np.isfinite(phis[i])).sum())} of {audited} images)", where="--shadow-lr",
                             fix=f"lower --shadow-lr (it is {config.lr:g}; e.g. {config.lr / 10:g})")
        progress(ProgressEvent("shadow models", i + 1, k, message=f"shadow {i + 1}/{k} trained on {len(rows)} images"))
    return phis


def _renamed(progress: ProgressFn, task: str) -> ProgressFn:
    def forward(event: ProgressEvent) -> None:
        progress(replace(event, task=task, message=""))

    return forward


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


def check_shadow_halves(pool: FaceDataset, masks: np.ndarray) -> None:
    """Before any shadow trains: each one's share of the pool must hold at least 2 images of at least
    2 identities, or training it fails (or means nothing)."""
    for i, row in enumerate(np.asarray(masks, dtype=bool)):
        images, identities = int(row.sum()), len(np.unique(pool.labels[row]))
        if images < 2 or identities < 2:
            raise InputError(f"shadow {i + 1} of {len(masks)} would train on {images} image(s) of {identities} "
                             f"identit{'y' if identities == 1 else 'ies'}: each shadow trains on about half of the "
                             f"{len(pool)}-image pool, and needs at least 2 images of at least 2 identities",
                             where="--shadows", fix="give more members/non-members, or a --reference set of images "
                             "of the same identities to train shadows on")


def image_hashes(images: np.ndarray) -> list[bytes]:
    """One digest per image over its exact bytes and shape."""
    return [hashlib.sha256(repr(img.shape).encode() + np.ascontiguousarray(img).tobytes()).digest() for img in images]


# ---- the command ---------------------------------------------------------------------------------

def default_shadow_config() -> TrainConfig:
    return TrainConfig(epochs=10, batch_size=64, lr=1e-3)


@dataclass
class AuditMiaJob:
    """Everything `hardener audit-mia` needs; `run_audit_mia` does the whole job."""

    model: Path
    members: str
    non_members: str
    out: Path
    reference: str | None = None
    shadows: int = 0  # 0: threshold attacks only
    shadow_config: TrainConfig = field(default_factory=default_shadow_config)  # its seed is replaced by `seed`
    seed: int = 0
    device: str = "auto"
    allow_pickle: bool = False


def run_audit_mia(job: AuditMiaJob, progress: ProgressFn = no_progress) -> dict:
    """Load and check the inputs, run the threshold attacks and (with shadows) LiRA, write report.json and roc.png."""
    from hardener.audit.roc import roc_png
    from hardener.data import load_dataset
    from hardener.device import resolve_device
    from hardener.files import prepare_out_dir, write_json
    from hardener.io import load_model
    from hardener.report import provenance
    from hardener.summary import model_summary

    _check_options(job)
    device = resolve_device(job.device)
    target = load_model(job.model, allow_pickle=job.allow_pickle)
    members, non_members = load_dataset(job.members), load_dataset(job.non_members)
    reference = load_dataset(job.reference) if job.reference else None
    check_audit_sets(members, non_members, target.num_classes, reference)
    pool = masks = None
    if job.shadows:  # refuse a pool too small for the shadows before writing or training anything
        pool = _pool([d for d in (members, non_members, reference) if d is not None], target.spec.image_size)
        masks = shadow_masks(len(pool), job.shadows, seed=job.seed)
        check_shadow_halves(pool, masks)
    data_paths = tuple(p for p in (job.members, job.non_members, job.reference) if p and Path(p).exists())
    out = prepare_out_dir(job.out, inputs=(job.model, *data_paths))

    results, logits = threshold_results(target.model, members, non_members, device)
    progress(ProgressEvent("threshold attacks", 1, 1,
                           {"auc": strongest_attack({n: r.auc for n, r in results.items()})[1]}))
    config = {"shadows": job.shadows, "seed": job.seed, "device": str(device), "target_fprs": list(TARGET_FPRS)}
    if job.shadows:
        lira, lira_config = _run_lira(job, target.model, members, non_members, pool, masks, logits, device, progress)
        results["lira"] = lira
        config["lira"] = lira_config
    roc = roc_png(results, out / "roc.png",
                  title=f"Membership inference: {len(members)} members vs {len(non_members)} non-members")
    attacks = {name: r.to_dict() for name, r in results.items()}
    strongest, max_auc = strongest_attack({name: r.auc for name, r in results.items()})
    report = {
        "command": "audit-mia",
        "attacks": attacks,
        "max_auc": max_auc,
        "max_auc_attack": strongest,
        "max_auc_note": MAX_AUC_NOTE,
        "counts": {"members": len(members), "non_members": len(non_members),
                   "reference": len(reference) if reference is not None else 0},
        "tpr_note": TPR_NOTE,
        "balanced_accuracy_note": BALANCED_ACCURACY_NOTE,
        "config": config,
        "target": model_summary(target),
        "data": {"members": members.source, "non_members": non_members.source,
                 "reference": reference.source if reference is not None else None},
        "roc": str(roc),
        "versions": provenance(),
    }
    write_json(out / "report.json", report)
    return report


def _check_options(job: AuditMiaJob) -> None:
    if job.shadows == 1 or job.shadows < 0:
        raise InputError(f"LiRA needs at least 2 shadow models, got {job.shadows}: it compares shadows trained with "
                         "an example against shadows trained without it", where="--shadows",
                         fix="use --shadows 0 (threshold attacks only) or 2 and more (16+ gives steadier scores)")
    c = job.shadow_config
    if job.shadows and (c.epochs < 1 or c.batch_size < 1 or not (math.isfinite(c.lr) and c.lr > 0)):
        raise InputError("shadow training needs epochs >= 1, batch size >= 1 and a positive, finite learning rate "
                         f"(got {c.epochs} epochs, batch size {c.batch_size}, lr {c.lr:g})",
                         where="--shadow-epochs/--shadow-batch-size/--shadow-lr",
                         fix="e.g. --shadow-epochs 10 --shadow-batch-size 64 --shadow-lr 1e-3")


def _run_lira(job: AuditMiaJob, target: torch.nn.Module, members: FaceDataset, non_members: FaceDataset,
              pool: FaceDataset, masks: np.ndarray, logits: np.ndarray, device: torch.device,
              progress: ProgressFn) -> tuple[RocResult, dict]:
    audited = len(members) + len(non_members)
    config = replace(job.shadow_config, seed=job.seed)
    phis = shadow_phis(target, pool, masks, audited, config, device, progress)
    labels = np.concatenate([members.labels, non_members.labels])
    lira = lira_scores(phis, masks[:, :audited], logit_confidence(logits, labels))
    result = evaluate(lira.scores[:len(members)], lira.scores[len(members):])
    details = {"variant": "online", "pool": len(pool), "shadow_training": asdict(config),
               "shadow_seeds": [config.seed + i for i in range(job.shadows)],
               "shadow_train_sizes": [int(n) for n in masks.sum(axis=1)],
               "mask_seed": job.seed, "per_example_variance_min": PER_EXAMPLE_VARIANCE_MIN,
               "fallbacks": lira.summary(), "method": LIRA_NOTE.format(min=PER_EXAMPLE_VARIANCE_MIN)}
    return result, details


def _pool(datasets: list[FaceDataset], size: int) -> FaceDataset:
    """Audited sets first (members, non-members), then reference images, as one dataset. Sets of
    different pixel sizes are brought to the model's input size (the model would resize them anyway)."""
    from hardener.data import to_model_input

    shapes = {d.images.shape[1:] for d in datasets}
    if len(shapes) == 1:
        images = np.concatenate([d.images for d in datasets])
    else:
        images = np.concatenate([_to_uint8(to_model_input(d.images, size)) for d in datasets])
    labels = np.concatenate([d.labels for d in datasets])
    return FaceDataset(images, labels, datasets[0].names, "audit-mia pool")


def _to_uint8(x: torch.Tensor) -> np.ndarray:
    """Float [0, 1] NCHW -> uint8 NHWC (the same rounding as hardener.gan.samples.tile)."""
    return (x.clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
