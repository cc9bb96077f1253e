"""LiRA, the online variant (Carlini et al. 2022): shadow models trained on random halves of a pool,
and per example a likelihood ratio between the shadows that trained on it and those that did not.

The math (`shadow_masks`, `lira_scores`) works on plain arrays so it can be checked on synthetic numbers;
`shadow_phis` trains the shadows. `hardener.jobs.audit_mia` runs it for `hardener audit-mia`.
"""
from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, replace
from typing import Callable, Mapping, Sequence

import numpy as np
import torch

from hardener import ranks
from hardener.audit.mia import logit_confidence, model_logits
from hardener.audit.roc import RocResult, evaluate
from hardener.checkpoint import Checkpoint
from hardener.data import FaceDataset
from hardener.errors import InputError
from hardener.progress import ProgressEvent, ProgressFn, no_progress
from hardener.train import TrainConfig, valid_lr

# Per-example variances need many shadows to be trustworthy; Carlini et al. switch to one global
# variance below 64 shadows. We use an example's own variance once it has this many values on that side.
PER_EXAMPLE_VARIANCE_MIN = 16
VARIANCE_FLOOR = 1e-4  # phi is in logit units; keeps the Gaussians proper when shadows agree exactly
LIRA_NOTE = ("online LiRA: per example, Gaussians on the shadows' phi = log(p/(1-p)) of the true label, "
             "'in' from shadows trained on it and 'out' from the others; score = log N(target; in) - "
             "log N(target; out). Variance: an example's own once it has >= {min} values on that side, "
             "else the pooled within-example variance of that side over all examples (a global variance, "
             "as LiRA does for few shadows), or, when no example has two values on that side (K = 2), "
             "the variance of all that side's values. A missing in (or out) mean is imputed as the "
             "out (in) mean plus (minus) the average in-out gap.")


@dataclass(frozen=True)
class ShadowOptions:
    """The command-line names an error message should point at (audit-mia and verify name them differently)."""

    shadows: str = "--shadows"
    training: str = "--shadow-epochs/--shadow-batch-size/--shadow-lr"
    lower_lr: str = "lower --shadow-lr"
    more_data: str = "give more members/non-members, or a --reference set of images of the same identities"


AUDIT_MIA_OPTIONS = ShadowOptions()
VERIFY_OPTIONS = ShadowOptions("--mia-shadows", "--mia-shadow-epochs",
                               "verify trains shadows at lr 1e-3; audit with `hardener audit-mia --shadow-lr` instead",
                               "give more --members and --data images")


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


def new_shadow(target: torch.nn.Module, seed: int) -> torch.nn.Module:
    """An untrained model like the target: same architecture, variant, classes, input size and spec."""
    from hardener.registry import build_model

    torch.manual_seed(seed)
    shadow = build_model(target.arch, target.variant, target.num_classes, target.spec.image_size)
    shadow.set_spec(target.spec)
    return shadow


def shadow_phis(target: torch.nn.Module, pool: FaceDataset, masks: np.ndarray, audited: int, config: TrainConfig,
                device: torch.device | str = "cpu", progress: ProgressFn = no_progress,
                options: ShadowOptions = AUDIT_MIA_OPTIONS,
                checkpoints: Callable[[int], Checkpoint] | None = None) -> np.ndarray:
    """Train one shadow per mask row on those pool images; return (K, audited) phis of the first
    `audited` pool images. Each shadow is dropped once scored, so memory stays at one model.

    A shadow depends only on its index, so two things change nothing in the phis:
    - with `checkpoints` (shadow index -> its Checkpoint, made by the job) each shadow's phis are saved as soon
      as it is scored, with its identity: target architecture, pool, mask row, training config; a shadow whose
      checkpoint resumes is kept (the job resumes those an interrupted run finished) and the rest are trained;
    - under torchrun the shadows are independent jobs split across the ranks (rank r trains shadows r, r + N,
      ...; each alone, without DDP; each rank writes its own shadows' checkpoints) and every rank gets all
      phis back."""
    check_shadow_halves(pool, masks, options)
    k = len(masks)
    progress(ProgressEvent("shadow models", 0, k))
    saved = ShadowCheckpoints(checkpoints, target, pool, masks, audited, config) if checkpoints else None
    if not ranks.active():
        return _train_shadows(target, pool, masks, range(k), audited, config, device, progress, options, saved)[1]
    mine = ranks.shard(range(k))
    with ranks.alone():
        try:
            part = _train_shadows(target, pool, masks, mine, audited, config, device, progress, options, saved)
        except InputError as error:  # a diverged shadow: every rank must stop, not wait for this one
            part = (error.what, error.where, error.fix)
    parts = ranks.gather(part)
    for failed in (p for p in parts if isinstance(p[0], str)):
        raise InputError(failed[0], where=failed[1], fix=failed[2])
    phis = np.empty((k, audited))
    for rows, values in parts:
        phis[rows] = values[rows]
    return phis


def _train_shadows(target: torch.nn.Module, pool: FaceDataset, masks: np.ndarray, which: Sequence[int], audited: int,
                   config: TrainConfig, device: torch.device | str, progress: ProgressFn,
                   options: ShadowOptions, saved: "ShadowCheckpoints | None" = None) -> tuple[list[int], np.ndarray]:
    """Shadows `which` (rows of `masks`), trained and scored: (which, (K, audited) phis with those rows set)."""
    from hardener.data import subset
    from hardener.train import train_classifier

    k = len(masks)
    phis = np.full((k, audited), np.nan)
    images, labels = pool.images[:audited], pool.labels[:audited]
    for i in which:
        kept = saved.load(i) if saved is not None else None
        if kept is not None:
            phis[i] = kept
            progress(ProgressEvent("shadow models", i + 1, k, message=f"shadow {i + 1}/{k} kept from its checkpoint"))
            continue
        rows = np.flatnonzero(masks[i])
        shadow = new_shadow(target, config.seed + i)
        train_classifier(shadow, subset(pool, rows, note=f"shadow {i + 1}"),
                         config=replace(config, seed=config.seed + i), device=device,
                         progress=_renamed(progress, f"shadow {i + 1}/{k}"))
        phis[i] = logit_confidence(model_logits(shadow, images, device), labels)
        del shadow
        if not np.isfinite(phis[i]).all():
            raise InputError(f"shadow {i + 1} of {k} diverged (non-finite confidences on "
                             f"{int((~np.isfinite(phis[i])).sum())} of {audited} images, lr {config.lr:g})",
                             where=options.shadows, fix=options.lower_lr)
        if saved is not None:
            saved.save(i, phis[i])
        progress(ProgressEvent("shadow models", i + 1, k, message=f"shadow {i + 1}/{k} trained on {len(rows)} images"))
    return list(which), phis


class ShadowCheckpoints:
    """One checkpoint per finished shadow: its phis, under an identity that names everything they depend on."""

    def __init__(self, checkpoints: Callable[[int], Checkpoint], target: torch.nn.Module, pool: FaceDataset,
                 masks: np.ndarray, audited: int, config: TrainConfig) -> None:
        from hardener.data import fingerprint

        self.checkpoints, self.masks = checkpoints, masks
        self.identity = {"target": [target.arch, target.variant, target.num_classes, target.spec.image_size],
                         "pool_sha256": fingerprint(pool), "audited": audited, "config": asdict(config)}

    def _identity(self, index: int) -> dict:
        mask = hashlib.sha256(np.ascontiguousarray(self.masks[index], dtype=np.uint8).tobytes()).hexdigest()
        return {**self.identity, "shadow": index, "mask_sha256": mask}

    def load(self, index: int) -> np.ndarray | None:
        """The shadow's phis when its checkpoint resumes (checked against this run), else None."""
        state = self.checkpoints(index).load(kind="lira shadow", identity=self._identity(index))
        return None if state is None else state["phi"].numpy()

    def save(self, index: int, phi: np.ndarray) -> None:
        self.checkpoints(index).save(kind="lira shadow", identity=self._identity(index),
                                     state={"phi": torch.from_numpy(np.ascontiguousarray(phi, dtype=np.float64))})


def _renamed(progress: ProgressFn, task: str) -> ProgressFn:
    def forward(event: ProgressEvent) -> None:
        progress(replace(event, task=task, message=""))

    return forward


def check_shadow_halves(pool: FaceDataset, masks: np.ndarray, options: ShadowOptions = AUDIT_MIA_OPTIONS) -> None:
    """Before any shadow trains: each one's share of the pool must hold at least 2 images of at least
    2 identities, or training it fails (or means nothing)."""
    for i, row in enumerate(np.asarray(masks, dtype=bool)):
        images, identities = int(row.sum()), len(np.unique(pool.labels[row]))
        if images < 2 or identities < 2:
            raise InputError(f"shadow {i + 1} of {len(masks)} would train on {images} image(s) of {identities} "
                             f"identit{'y' if identities == 1 else 'ies'}: each shadow trains on about half of the "
                             f"{len(pool)}-image pool, and needs at least 2 images of at least 2 identities",
                             where=options.shadows, fix=options.more_data)


def shadow_pool(datasets: list[FaceDataset], size: int) -> FaceDataset:
    """Audited sets first (members, non-members), then reference images, as one dataset. Sets of
    different pixel sizes are brought to the model's input size (the model would resize them anyway)."""
    from hardener.data import to_dataset_images, to_model_input

    shapes = {d.images.shape[1:] for d in datasets}
    if len(shapes) == 1:
        images = np.concatenate([d.images for d in datasets])
    else:
        images = np.concatenate([to_dataset_images(to_model_input(d.images, size)) for d in datasets])
    labels = np.concatenate([d.labels for d in datasets])
    return FaceDataset(images, labels, datasets[0].names, "audit-mia pool")


@dataclass
class ShadowPlan:
    """The pool the shadows train on (audited images first), which half each one gets, the seed that drew
    the halves, and the option names errors should point at."""

    pool: FaceDataset
    masks: np.ndarray  # (K, len(pool)) bool
    seed: int
    options: ShadowOptions = AUDIT_MIA_OPTIONS


def check_shadow_options(shadows: int, config: TrainConfig, options: ShadowOptions = AUDIT_MIA_OPTIONS) -> None:
    """K = 0 (no LiRA) or at least 2, and a shadow training that can run; one clear line otherwise."""
    if shadows == 1 or shadows < 0:
        raise InputError(f"LiRA needs at least 2 shadow models, got {shadows}: it compares shadows trained with "
                         "an example against shadows trained without it", where=options.shadows,
                         fix=f"use {options.shadows} 0 (threshold attacks only) or 2 and more (16+ gives steadier scores)")
    if shadows and (config.epochs < 1 or config.batch_size < 1 or not valid_lr(config.lr)):
        raise InputError("shadow training needs epochs >= 1, batch size >= 1 and a positive, finite learning rate up to 10 "
                         f"(got {config.epochs} epochs, batch size {config.batch_size}, lr {config.lr:g})",
                         where=options.training, fix="e.g. 10 epochs, batch size 64, lr 1e-3")


def plan_shadows(target: torch.nn.Module, members: FaceDataset, non_members: FaceDataset,
                 reference: FaceDataset | None, shadows: int, seed: int,
                 options: ShadowOptions = AUDIT_MIA_OPTIONS) -> ShadowPlan:
    """Pool and halves, checked before anything is written or trained (a pool too small is bad input)."""
    pool = shadow_pool([d for d in (members, non_members, reference) if d is not None], target.spec.image_size)
    masks = shadow_masks(len(pool), shadows, seed=seed)
    check_shadow_halves(pool, masks, options)
    return ShadowPlan(pool, masks, seed, options)


def run_lira(targets: Mapping[str, torch.nn.Module], members: FaceDataset, non_members: FaceDataset,
             plan: ShadowPlan, config: TrainConfig, device: torch.device | str = "cpu",
             progress: ProgressFn = no_progress,
             checkpoints: Callable[[int], Checkpoint] | None = None) -> tuple[dict[str, RocResult], dict]:
    """Train the planned shadows like `config` (architecture of the first target) and score members against
    non-members for every target with the same shadows, so several models compare like for like; returns the
    ROC result per target and what the report should say about how they were computed."""
    audited = len(members) + len(non_members)
    first = next(iter(targets.values()))
    phis = shadow_phis(first, plan.pool, plan.masks, audited, config, device, progress, plan.options,
                       checkpoints=checkpoints)
    labels = np.concatenate([members.labels, non_members.labels])
    results, fallbacks = {}, {}
    for name, target in targets.items():
        target_phi = logit_confidence(model_logits(target, plan.pool.images[:audited], device), labels)
        lira = lira_scores(phis, plan.masks[:, :audited], target_phi)
        results[name] = evaluate(lira.scores[:len(members)], lira.scores[len(members):])
        fallbacks[name] = lira.summary()
    details = {"variant": "online", "pool": len(plan.pool), "shadow_training": asdict(config),
               "shadow_seeds": [config.seed + i for i in range(len(plan.masks))],
               "shadow_train_sizes": [int(n) for n in plan.masks.sum(axis=1)], "mask_seed": plan.seed,
               "per_example_variance_min": PER_EXAMPLE_VARIANCE_MIN,
               "fallbacks": next(iter(fallbacks.values())) if len(fallbacks) == 1 else fallbacks,
               "method": LIRA_NOTE.format(min=PER_EXAMPLE_VARIANCE_MIN)}
    return results, details
