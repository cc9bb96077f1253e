"""The batched latent-optimisation engine shared by attacks (verify) and the decoy defense (protect).

Every (class, restart) pair is one row of one batch through a frozen generator G, critic D and
classifier F: loss_row = prior(D(G(z))) + lambda * identity(F(G(z)), class) [+ penalty(G(z))]. Losses are
summed over rows (never averaged), each row's initial latent comes from its own seed, and every network runs
in eval mode, so a row's trajectory does not depend on which other rows share its batch.

Two hooks for attacks that need more than a loss name, both kept per row so the promise above holds:
`config.augment` (PPA: F sees random warps of G(z), drawn per row from (seed, class, restart), and the
identity loss is averaged over `augment_views` warps) and `invert(penalty=...)`, a per-row loss on G(z)
(the adaptive attacker's "do not look like a public face"). A penalty built from a module with batch
statistics in train mode would break the promise; the caller passes modules in eval mode.

A class-conditional generator (PLG-MI's, `attacks/plg_gan.py`) says so with a class attribute
`conditional = True`; the engine then calls it as G(z, y) with each row's own class, everywhere it would
call G(z), so every row is drawn for the class it attacks and rows stay independent.
"""
from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field, fields, replace
from typing import Callable, Sequence

import torch
from torch import nn

from hardener import ranks
from hardener.attacks.augment import AUGMENTATIONS, SELECT_SALT, STEP_SALT, row_warps, warp
from hardener.attacks.losses import IDENTITY_LOSSES, PRIORS
from hardener.errors import InputError
from hardener.progress import ProgressEvent, ProgressFn, no_progress


@dataclass(frozen=True)
class InversionConfig:
    steps: int = 1500
    lr: float = 0.02
    optimizer: str = "sgd"  # sgd (with momentum) | adam
    schedule: str = "constant"  # learning rate over the steps: constant | cosine (decays from lr towards 0)
    momentum: float = 0.9
    lam: float = 100.0  # weight of the identity loss against the prior
    restarts: int = 5
    identity_loss: str = "ce"
    prior: str = "critic"
    z_clamp: float | None = 1.0  # clamp z to [-c, c] after each step; None: unclamped
    init_candidates: int = 1  # best-of-N random initialisation by identity loss
    select: str = "identity"  # keep the best restart per class by "identity" loss, "confidence" or "augmented"
    augment: str | None = None  # "ppa": F sees random warps of G(z) at every step (see attacks/augment.py)
    augment_views: int = 1  # warps per row and step; the identity loss is their mean
    select_views: int = 32  # select="augmented": target confidence averaged over this many fixed warps per row
    stop_confidence: float | None = None  # a row whose target confidence reaches this stops moving
    check_every: int = 50  # steps between host-side checks: rows done by then leave the batch; all done: stop

    def validate(self) -> None:
        if self.identity_loss not in IDENTITY_LOSSES:
            raise InputError(f"unknown identity loss {self.identity_loss!r}", fix=f"use one of: {', '.join(IDENTITY_LOSSES)}")
        if self.prior not in PRIORS:
            raise InputError(f"unknown prior {self.prior!r}", fix=f"use one of: {', '.join(PRIORS)}")
        if self.optimizer not in ("sgd", "adam"):
            raise InputError(f"unknown optimizer {self.optimizer!r}", fix="use sgd or adam")
        if self.schedule not in SCHEDULES:
            raise InputError(f"unknown learning-rate schedule {self.schedule!r}", fix=f"use one of: {', '.join(SCHEDULES)}")
        if self.check_every < 1:
            raise InputError(f"check_every {self.check_every} must be at least 1", fix="e.g. check_every=50")
        if self.stop_confidence is not None and not 0.0 <= self.stop_confidence <= 1.0:
            raise InputError(f"stop_confidence {self.stop_confidence} is not a probability", fix="e.g. stop_confidence=0.99")
        if self.steps < 1 or self.restarts < 1 or self.init_candidates < 1:
            raise InputError("steps, restarts and init candidates must be at least 1", fix="e.g. --steps 100")
        if self.select not in ("identity", "confidence", "augmented"):
            raise InputError(f"unknown selection {self.select!r}", fix="use identity, confidence or augmented")
        if self.augment is not None and self.augment not in AUGMENTATIONS:
            raise InputError(f"unknown augmentation {self.augment!r}", fix=f"use one of: {', '.join(AUGMENTATIONS)}")
        if self.augment_views < 1 or self.select_views < 1:
            raise InputError("augment_views and select_views must be at least 1", fix="e.g. augment_views=1")


@dataclass
class InversionResult:
    targets: torch.Tensor  # (R,) class of each row, rows ordered class-major then restart
    restarts: torch.Tensor  # (R,) restart index of each row
    z: torch.Tensor  # (R, latent) final latents
    images: torch.Tensor  # (R, 3, H, W) in [0, 1], on the CPU
    confidence: torch.Tensor  # (R,) classifier softmax probability of the target class
    identity_loss: torch.Tensor  # (R,)
    best_rows: dict[int, int] = field(default_factory=dict)  # class -> row kept as that class's best
    augmented_confidence: torch.Tensor | None = None  # (R,) select="augmented": mean confidence over warps
    steps_run: int = 0
    seconds: float = 0.0
    latent_steps: int = 0  # work spent: each row's forward+backward steps while in the batch, plus one forward
    # per initial candidate when init_candidates > 1 (the final scoring pass, the same for every run, is not counted)

    @property
    def classes(self) -> list[int]:
        return list(self.best_rows)

    def best_images(self) -> torch.Tensor:
        return self.images[list(self.best_rows.values())]


CLAMP_TOLERANCE = 1e-3  # a latent coordinate this close to the clamp counts as at it


def share_at_clamp(z: torch.Tensor, clamp: float | None) -> float | None:
    """The share of latent coordinates at the box's wall after an inversion (None: no clamp). Natural draws,
    N(0, 1) clamped to [-1, 1], put about a third there; an attack that drives most of them there has left the
    region the GAN learned from (on the demo LOMMA-logit ends with 80-86 %, GMI with a third: docs/MEASUREMENTS.md,
    "Session 37")."""
    if clamp is None or z.numel() == 0:
        return None
    return float((z.abs() >= clamp - CLAMP_TOLERANCE).float().mean())


def row_latents(classes: Sequence[int], restarts: int, latent_dim: int, seed: int, candidates: int = 1) -> torch.Tensor:
    """Initial latents, (rows, candidates, latent): each row's draw depends only on (seed, class, restart)."""
    draws = []
    for c in classes:
        for r in range(restarts):
            gen = torch.Generator().manual_seed((seed * 1_000_003 + int(c) * 7_919 + r) % (2**63 - 1))
            draws.append(torch.randn(candidates, latent_dim, generator=gen))
    return torch.stack(draws)


SCHEDULES = ("constant", "cosine")

Penalty = Callable[[torch.Tensor], torch.Tensor]  # images (B, 3, H, W) in [0, 1] -> per-row loss (B,)

ROW_BYTES_ESTIMATE = 64 * 2**20  # memory one row may need on a GPU (G, D, classifier activations and grads)


def invert(generator: nn.Module, critic: nn.Module | None, classifier: nn.Module, targets: Sequence[int], *,
           config: InversionConfig = InversionConfig(), latent_dim: int = 100, seed: int = 0,
           device: torch.device | str = "cpu", progress: ProgressFn = no_progress,
           task: str = "inversion", max_batch_rows: int | None = None,
           penalty: Penalty | None = None) -> InversionResult:
    """Optimise latents so `classifier` is sure G(z) is each target class, under the critic's prior.

    Rows beyond `max_batch_rows` (default: everything on a CPU, what fits the card on CUDA) run in
    consecutive batches of whole classes; rows are independent, so the result is the same. `penalty`
    (per row, on G(z)) is added to each row's loss as it is: the caller sets its weight.
    """
    config.validate()
    classes = [int(c) for c in targets]
    if ranks.active() and not _within_shard.get():
        return _invert_across_ranks(generator, critic, classifier, classes, config=config, latent_dim=latent_dim,
                                    seed=seed, device=device, progress=progress, task=task,
                                    max_batch_rows=max_batch_rows, penalty=penalty)
    limit = max_batch_rows or _rows_that_fit(torch.device(device))
    per_batch = max(1, limit // config.restarts) if limit else len(classes)
    if per_batch < len(classes):
        parts = [invert(generator, critic, classifier, classes[i:i + per_batch], config=config, latent_dim=latent_dim,
                        seed=seed, device=device, progress=progress, task=task, max_batch_rows=limit,
                        penalty=penalty)
                 for i in range(0, len(classes), per_batch)]
        return _concatenate(parts, classes, config)
    return _invert_batch(generator, critic, classifier, classes, config, latent_dim, seed, torch.device(device),
                         progress, task, penalty)


_within_shard: ContextVar[bool] = ContextVar("hardener_within_shard", default=False)


def _invert_across_ranks(generator, critic, classifier, classes: list[int], **options) -> "InversionResult":
    """Each rank inverts its share of the classes; every rank gets all rows back in the one-process order."""
    mine = ranks.shard(classes)
    token = _within_shard.set(True)
    try:
        part = invert(generator, critic, classifier, mine, **options) if mine else None
    finally:
        _within_shard.reset(token)
    parts = [p for p in ranks.gather(part) if p is not None]
    config = options["config"]
    merged = _concatenate(parts, classes, config)
    return _in_class_order(merged, classes, config)


def _in_class_order(result: "InversionResult", classes: list[int], config: InversionConfig) -> "InversionResult":
    """Rows reordered class-major in `classes` order, as one process would have produced them."""
    order = torch.cat([(result.targets == c).nonzero().view(-1) for c in classes])
    rows = len(result.targets)
    changes = {f.name: getattr(result, f.name)[order] for f in fields(result)
               if isinstance(getattr(result, f.name), torch.Tensor) and len(getattr(result, f.name)) == rows}
    ordered = replace(result, **changes)
    ordered.best_rows = _best_rows(ordered, classes, config)
    return ordered


def _rows_that_fit(device: torch.device) -> int | None:
    if device.type != "cuda":
        return None
    free, _ = torch.cuda.mem_get_info(device)
    return max(1, int(free * 0.8) // ROW_BYTES_ESTIMATE)


def _concatenate(parts: list["InversionResult"], classes: list[int], config: InversionConfig) -> "InversionResult":
    merged = InversionResult(**{name: torch.cat([getattr(p, name) for p in parts])
                                for name in ("targets", "restarts", "z", "images", "confidence", "identity_loss")},
                             steps_run=max(p.steps_run for p in parts), seconds=sum(p.seconds for p in parts),
                             latent_steps=sum(p.latent_steps for p in parts))
    if parts[0].augmented_confidence is not None:
        merged.augmented_confidence = torch.cat([p.augmented_confidence for p in parts])
    merged.best_rows = _best_rows(merged, classes, config)
    return merged


def _invert_batch(generator, critic, classifier, classes: list[int], config: InversionConfig, latent_dim: int,
                  seed: int, device: torch.device, progress: ProgressFn, task: str,
                  penalty: Penalty | None = None) -> "InversionResult":
    if critic is None:
        raise InputError("this inversion needs the GAN's critic (discriminator) for its prior",
                         fix="pass the critic (--critic D.pt) or a GAN bundle that holds it")
    modules = [m for m in (generator, critic, classifier) if m is not None]
    modes = [[(sub, sub.training) for sub in m.modules()] for m in modules]  # each submodule's own mode
    trainable = [[p.requires_grad for p in m.parameters()] for m in modules]
    homes = [next(m.parameters()).device for m in modules]
    for m in modules:
        m.eval().requires_grad_(False).to(device)
    use_autocast = device.type == "cuda"
    identity_fn, prior_fn = IDENTITY_LOSSES[config.identity_loss], PRIORS[config.prior]
    target_rows = torch.tensor(classes, device=device).repeat_interleave(config.restarts)
    restart_rows = torch.arange(config.restarts).repeat(len(classes))

    warps = (row_warps(classes, config.restarts, seed, config.steps, config.augment_views, STEP_SALT)
             if config.augment else None)

    def losses(z: torch.Tensor, y: torch.Tensor, views: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-row total and identity loss, and the logits of the unwarped images; with `views` (rows,
        views, PARAMS) the identity loss is the mean over the warped images."""
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_autocast):
            images = generate(generator, z, y)
            if use_autocast:
                images = images.contiguous(memory_format=torch.channels_last)
            prior = prior_fn(critic(images).float().view(-1))
            extra = penalty(images).float().view(-1) if penalty is not None else 0.0
            if views is None:
                logits = classifier(images).float()
                identity = identity_fn(logits, y)
            else:
                warped = classifier(warp(images, views)).float()
                identity = identity_fn(warped, y.repeat_interleave(views.shape[1])).view(len(z), -1).mean(1)
                logits = warped.view(len(z), views.shape[1], -1)[:, 0]
        return prior + config.lam * identity + extra, identity, logits

    started = time.perf_counter()
    try:
        z0 = row_latents(classes, config.restarts, latent_dim, seed, config.init_candidates)
        if config.z_clamp is not None:
            z0 = z0.clamp(-config.z_clamp, config.z_clamp)
        z = _best_candidates(z0.to(device), target_rows, losses) if config.init_candidates > 1 else z0[:, 0].to(device)
        latent_steps = len(z) * config.init_candidates if config.init_candidates > 1 else 0
        z = z.clone().requires_grad_(True)
        optimizer = (torch.optim.SGD([z], lr=config.lr, momentum=config.momentum) if config.optimizer == "sgd"
                     else torch.optim.Adam([z], lr=config.lr))
        scheduler = (torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.steps)
                     if config.schedule == "cosine" else None)
        done = torch.zeros(len(z), dtype=torch.bool, device=device)
        active: torch.Tensor | None = None  # rows still in the batch (None: all of them)
        steps_run = 0
        for step in range(config.steps):
            rows = active if active is not None else slice(None)
            views = None if warps is None else warps[rows, step]
            total, identity, logits = losses(z if active is None else z[active], target_rows[rows], views)
            latent_steps += len(total)
            optimizer.zero_grad(set_to_none=True)
            total.sum().backward()
            frozen = z.detach().clone() if config.stop_confidence is not None else None
            optimizer.step()
            if scheduler is not None:
                scheduler.step()
            with torch.no_grad():
                if config.z_clamp is not None:
                    z.clamp_(-config.z_clamp, config.z_clamp)
                if frozen is not None:  # rows out of the batch get no gradient; momentum must not move them either
                    confidence = logits.softmax(1).gather(1, target_rows[rows][:, None]).squeeze(1)
                    done[rows] |= confidence >= config.stop_confidence
                    z.copy_(torch.where(done[:, None], frozen, z))
            steps_run = step + 1
            metrics = {}
            if step % config.check_every == 0 or steps_run == config.steps:
                metrics = {"loss": float(total.detach().mean()), "identity": float(identity.detach().mean())}
                if frozen is not None:
                    if bool(done.all()):
                        progress(ProgressEvent(task, config.steps, config.steps, metrics, "every row reached its target"))
                        break
                    if bool(done.any()):
                        active = (~done).nonzero().view(-1)
            progress(ProgressEvent(task, steps_run, config.steps, metrics))
        with torch.no_grad():
            _, identity, logits = losses(z.detach(), target_rows)
            images = generate(generator, z.detach(), target_rows).float().cpu()
            confidence = logits.softmax(1).gather(1, target_rows[:, None]).squeeze(1).cpu()
            augmented = (_augmented_confidence(classifier, images.to(device), target_rows, classes, config, seed)
                         if config.select == "augmented" else None)
    finally:  # the caller's modules come back as they were (protect fine-tunes the target next; an ensemble
        for m, mode, flags, home in zip(modules, modes, trainable, homes):  # holds members in other modes)
            m.to(home)
            for sub, training in mode:
                sub.training = training
            for p, flag in zip(m.parameters(), flags):
                p.requires_grad_(flag)
    result = InversionResult(targets=target_rows.cpu(), restarts=restart_rows, z=z.detach().cpu(), images=images,
                             confidence=confidence, identity_loss=identity.detach().cpu(), steps_run=steps_run,
                             seconds=time.perf_counter() - started, augmented_confidence=augmented,
                             latent_steps=latent_steps)
    result.best_rows = _best_rows(result, classes, config)
    return result


def generate(generator: nn.Module, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """G(z), or G(z, y) for a class-conditional generator (`conditional = True`): y holds each row's class."""
    return generator(z, y) if getattr(generator, "conditional", False) else generator(z)


def _augmented_confidence(classifier, images: torch.Tensor, targets: torch.Tensor, classes: list[int],
                          config: InversionConfig, seed: int) -> torch.Tensor:
    """PPA's final selection score: the target's softmax probability averaged over fixed random warps
    (drawn per row, apart from the optimisation's), one warp per row at a time to bound memory."""
    views = row_warps(classes, config.restarts, seed, 1, config.select_views, SELECT_SALT)[:, 0]
    total = torch.zeros(len(images), device=images.device)
    for v in range(config.select_views):
        logits = classifier(warp(images, views[:, v:v + 1])).float()
        total += logits.softmax(1).gather(1, targets[:, None]).squeeze(1)
    return (total / config.select_views).cpu()


def _best_candidates(z0: torch.Tensor, targets: torch.Tensor, losses) -> torch.Tensor:
    """Pick, per row, the initial candidate with the lowest identity loss (best-of-N initialisation)."""
    rows, candidates, latent = z0.shape
    with torch.no_grad():
        _, identity, _ = losses(z0.reshape(rows * candidates, latent), targets.repeat_interleave(candidates))
    best = identity.view(rows, candidates).argmin(1)
    return z0[torch.arange(rows, device=z0.device), best]


def _best_rows(result: InversionResult, classes: list[int], config: InversionConfig) -> dict[int, int]:
    best = {}
    for c in classes:
        rows = (result.targets == c).nonzero().view(-1)
        score = {"identity": lambda: -result.identity_loss[rows], "confidence": lambda: result.confidence[rows],
                 "augmented": lambda: result.augmented_confidence[rows]}[config.select]()
        best[c] = int(rows[score.argmax()])
    return best


def with_overrides(config: InversionConfig, **changes) -> InversionConfig:
    """A preset with some fields changed (None values are ignored), e.g. `--steps` for quick runs."""
    return replace(config, **{k: v for k, v in changes.items() if v is not None})
