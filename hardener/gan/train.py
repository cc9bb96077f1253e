"""WGAN-GP training of the GMI generator and critic on public face data, as GMI does it.

Per batch one critic step (loss -W + gp_weight * GP on random interpolates); every n_critic-th batch
one generator step (loss -critic(G(z))). Adam with betas (0.5, 0.999) for both. With `ema_decay` the
generator that comes out is an exponential moving average of the trained one's weights (as StyleGAN and most
GANs since do), its BatchNorm statistics measured on its own samples: the last steps' high-frequency noise
averages away, which a small, fast-trained GAN needs to make clean faces (docs/MEASUREMENTS.md, "The demo,
measured"). All randomness
(initial weights, batch order, noise, interpolation weights) comes from `seed`, and the random stream is
checkpointed with the weights after every epoch, so a resumed run ends with the same weights as an
uninterrupted one.
"""
from __future__ import annotations

import copy
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from hardener.checkpoint import Checkpoint, restore, states
from hardener.data.datasets import MIN_IMAGE_SIZE, FaceDataset, fingerprint, to_model_input
from hardener.device import resolve_device
from hardener.errors import InputError
from hardener.gan.models import SUPPORTED_SIZES, Critic, Generator
from hardener.progress import ProgressEvent, ProgressFn, no_progress
from hardener.train import MAX_LR, valid_lr

CHECKPOINT_FORMAT = "hardener-gan-checkpoint/1"
BETAS = (0.5, 0.999)
TASK = "train gan"

EpochEntry = dict[str, Any]  # epoch, steps, d_loss, g_loss (None if no generator step), wasserstein, gp, seconds


@dataclass
class GanTrainResult:
    """Trained networks (eval mode), per-epoch history, and how far training got."""

    generator: Generator
    critic: Critic
    history: list[EpochEntry]
    epochs_done: int
    seconds: float  # spent in this call (a resumed run counts only its own time)
    steps: int = 0  # critic steps (batches) since the start of training, resumed epochs included
    resumed_from: int | None = None  # the epoch the checkpoint had reached, when resuming
    stopped_early: bool = False  # max_steps ended training inside an epoch (that epoch is not recorded)
    checkpoint: Path | None = None
    notes: list[str] = field(default_factory=list)


def train_gan(dataset: FaceDataset, *, image_size: int = 64, epochs: int = 10, batch_size: int = 64,
              width: int = 64, latent_dim: int = 100, lr: float = 2e-4, n_critic: int = 5,
              gp_weight: float = 10.0, seed: int = 0, device: str = "cpu", checkpoint: Checkpoint | None = None,
              progress: ProgressFn = no_progress,
              on_epoch_end: Callable[[int, Generator], None] | None = None,
              max_steps: int | None = None, ema_decay: float | None = None) -> GanTrainResult:
    """Train a GAN on `dataset` (labels unused). `max_steps` caps the total number of critic steps
    (batches, counted from the start of training); an epoch it cuts short is neither recorded nor
    checkpointed. With a `checkpoint` every epoch is saved, and a resuming one continues from there.
    `on_epoch_end(epoch, generator)` runs after each epoch's checkpoint is written, with the generator that is
    returned (the moving average when `ema_decay` is set)."""
    _check_options(dataset, image_size=image_size, epochs=epochs, batch_size=batch_size, width=width,
                   latent_dim=latent_dim, lr=lr, n_critic=n_critic, gp_weight=gp_weight, max_steps=max_steps,
                   ema_decay=ema_decay)
    dev = resolve_device(device)
    started = time.perf_counter()
    count = len(dataset)
    batch = min(batch_size, count)
    batches = count // batch  # a short last batch is dropped: BatchNorm needs >= 2 samples and steps stay uniform
    config = {"image_size": image_size, "width": width, "latent_dim": latent_dim, "batch_size": batch,
              "lr": float(lr), "n_critic": n_critic, "gp_weight": float(gp_weight), "seed": seed,
              "ema_decay": None if ema_decay is None else float(ema_decay)}  # None matches older checkpoints

    rng = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng(devices=[]):  # seeded initial weights without touching the caller's RNG
        torch.manual_seed(seed)
        generator, critic = Generator(image_size, width, latent_dim), Critic(image_size, width)
    generator.to(dev).train()
    critic.to(dev).train()
    opt_g = torch.optim.Adam(generator.parameters(), lr=lr, betas=BETAS)
    opt_d = torch.optim.Adam(critic.parameters(), lr=lr, betas=BETAS)

    objects = {"generator": generator, "critic": critic, "opt_g": opt_g, "opt_d": opt_d, "rng": rng}
    average = None
    if ema_decay is not None:
        average = objects["generator_ema"] = copy.deepcopy(generator).eval().requires_grad_(False)
    released = generator if average is None else average
    if checkpoint is not None:
        config["data_sha256"] = fingerprint(dataset)
    start_epoch, step, history, resumed_from = 0, 0, [], None
    state = checkpoint.load(kind=CHECKPOINT_FORMAT, identity=config) if checkpoint is not None else None
    if state is not None:
        restore(objects, state, checkpoint.path)
        start_epoch = resumed_from = int(state["epoch"])
        step, history = int(state["step"]), list(state["history"])
        progress(ProgressEvent(TASK, step, step, message=f"resumed from {checkpoint.path} after epoch {start_epoch}"))

    total = epochs * batches if max_steps is None else min(epochs * batches, max_steps)
    stopped = False
    epochs_done = start_epoch
    for epoch in range(start_epoch, epochs):
        epoch_started = time.perf_counter()
        order = torch.randperm(count, generator=rng).numpy()
        sums = {"d_loss": 0.0, "wasserstein": 0.0, "gp": 0.0, "g_loss": 0.0}
        g_steps = done = 0
        g_loss = float("nan")
        for b in range(batches):
            if max_steps is not None and step >= max_steps:
                break
            real = to_model_input(dataset.images[order[b * batch:(b + 1) * batch]], image_size).to(dev)
            d_loss, wasserstein, gp = _critic_step(generator, critic, opt_d, real, rng, gp_weight)
            step += 1
            done += 1
            if step % n_critic == 0:
                g_loss = _generator_step(generator, critic, opt_g, real.size(0), rng)
                if average is not None:
                    update_average(average, generator, ema_decay)
                g_steps += 1
                sums["g_loss"] += g_loss
            sums["d_loss"] += d_loss
            sums["wasserstein"] += wasserstein
            sums["gp"] += gp
            progress(ProgressEvent(TASK, step, total, metrics={
                "epoch": epoch + 1, "d_loss": d_loss, "g_loss": g_loss, "wasserstein": wasserstein, "gp": gp}))
        if done < batches:
            stopped = True
            break
        entry = {"epoch": epoch + 1, "steps": done,
                 "d_loss": sums["d_loss"] / done, "g_loss": sums["g_loss"] / g_steps if g_steps else None,
                 "wasserstein": sums["wasserstein"] / done, "gp": sums["gp"] / done,
                 "seconds": time.perf_counter() - epoch_started}
        history.append(entry)
        epochs_done = epoch + 1
        if average is not None:
            standing_statistics(average, seed)
        note = ""
        if checkpoint is not None:
            _write_checkpoint(checkpoint, config=config, epoch=epochs_done, step=step, history=history, objects=objects)
            note = f", checkpoint {checkpoint.path}"
        progress(ProgressEvent(TASK, step, total, metrics={k: v for k, v in entry.items() if v is not None},
                               message=f"epoch {epochs_done}/{epochs}: d_loss {entry['d_loss']:.4f} "
                                       f"W {entry['wasserstein']:.4f}{note}"))
        if on_epoch_end is not None:
            on_epoch_end(epochs_done, released)

    if average is not None:  # also when a resumed run had no epoch left: the file then holds the same generator
        standing_statistics(average, seed)
    return GanTrainResult(generator=released.eval(), critic=critic.eval(), history=history,
                          epochs_done=epochs_done, seconds=time.perf_counter() - started, steps=step,
                          resumed_from=resumed_from, stopped_early=stopped,
                          checkpoint=checkpoint.path if checkpoint is not None else None)


# --- one step each ----------------------------------------------------------------------------------

def _noise(rng: torch.Generator, count: int, latent_dim: int, device: torch.device) -> torch.Tensor:
    # Drawn on the CPU from the seeded stream, so runs agree whatever the device.
    return torch.randn(count, latent_dim, generator=rng).to(device)


def _critic_step(generator: Generator, critic: Critic, opt: torch.optim.Optimizer, real: torch.Tensor,
                 rng: torch.Generator, gp_weight: float) -> tuple[float, float, float]:
    with torch.no_grad():  # the generator is frozen here, as in GMI
        fake = generator(_noise(rng, real.size(0), generator.latent_dim, real.device))
    wasserstein = critic(real).mean() - critic(fake).mean()
    gp = gradient_penalty(critic, real, fake, rng)
    loss = gp_weight * gp - wasserstein
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return float(loss.detach()), float(wasserstein.detach()), float(gp.detach())


def _generator_step(generator: Generator, critic: Critic, opt: torch.optim.Optimizer, count: int,
                    rng: torch.Generator) -> float:
    device = next(generator.parameters()).device
    critic.requires_grad_(False)  # no critic gradients: it is not updated here
    try:
        loss = -critic(generator(_noise(rng, count, generator.latent_dim, device))).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    finally:
        critic.requires_grad_(True)
    return float(loss.detach())


@torch.no_grad()
def update_average(average: Generator, generator: Generator, decay: float) -> None:
    """Move `average`'s weights a step (1 - decay) towards `generator`'s (its BatchNorm statistics are left to
    `standing_statistics`)."""
    for kept, new in zip(average.parameters(), generator.parameters()):
        kept.lerp_(new, 1.0 - decay)


@torch.no_grad()
def standing_statistics(generator: Generator, seed: int, batches: int = 8, batch_size: int = 256) -> None:
    """Measure the BatchNorm statistics of `generator`'s own activations on seeded noise (BigGAN's "standing
    statistics"). An averaged generator needs them: the trained generator's statistics do not describe its
    activations, and with them its faces came out washed-out and grey (docs/MEASUREMENTS.md). The noise has its own
    seeded stream, so training's random stream is untouched and a resumed run gets the same statistics."""
    norms = [m for m in generator.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for norm in norms:
        norm.reset_running_stats()
        norm.momentum = None  # a plain average over the batches below
    rng = torch.Generator().manual_seed(seed)
    device = next(generator.parameters()).device
    generator.train()
    try:
        for _ in range(batches):
            generator(_noise(rng, batch_size, generator.latent_dim, device))
    finally:
        generator.eval()
        for norm, momentum in zip(norms, momenta):
            norm.momentum = momentum


def gradient_penalty(critic: Critic, real: torch.Tensor, fake: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """Mean of (||d critic / dx|| - 1)^2 at random points between real and fake images (WGAN-GP)."""
    alpha = torch.rand(real.size(0), 1, 1, 1, generator=rng).to(real.device)
    mixed = (real + alpha * (fake - real)).requires_grad_(True)
    (grad,) = torch.autograd.grad(critic(mixed).sum(), mixed, create_graph=True)
    return ((grad.flatten(1).norm(2, dim=1) - 1.0) ** 2).mean()


# --- checks and checkpoints ---------------------------------------------------------------------------

def _check_options(dataset: FaceDataset, **opts: Any) -> None:
    if opts["image_size"] not in SUPPORTED_SIZES:
        raise InputError(f"GAN image size {opts['image_size']} is not supported", where="--image-size",
                         fix=f"use one of: {', '.join(map(str, SUPPORTED_SIZES))}")
    images = np.asarray(dataset.images)
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
        raise InputError(f"dataset images are {images.dtype} {images.shape}, expected uint8 (N, H, W, 3)",
                         where=dataset.source, fix="load the data with hardener.data.load_dataset")
    if len(images) < 2:
        raise InputError(f"the dataset has {len(images)} image(s); a GAN needs at least 2", where=dataset.source,
                         fix="use the public face data set (thousands of images are typical)")
    if min(images.shape[1:3]) < MIN_IMAGE_SIZE:
        raise InputError(f"images are {images.shape[1]}x{images.shape[2]} px, smaller than {MIN_IMAGE_SIZE} px",
                         where=dataset.source, fix="use face crops of at least 32 px")
    for name, minimum in (("epochs", 1), ("batch_size", 2), ("width", 1), ("latent_dim", 1), ("n_critic", 1)):
        if not isinstance(opts[name], int) or opts[name] < minimum:
            raise InputError(f"{name} must be an integer of at least {minimum}, got {opts[name]!r}",
                             where=f"--{name.replace('_', '-')}", fix=f"use {name} >= {minimum}")
    if opts["max_steps"] is not None and (not isinstance(opts["max_steps"], int) or opts["max_steps"] < 1):
        raise InputError(f"max_steps must be a positive integer, got {opts['max_steps']!r}", where="--max-steps",
                         fix="leave it out to train all epochs")
    decay = opts["ema_decay"]
    if decay is not None and not (isinstance(decay, (int, float)) and 0 < decay < 1):
        raise InputError(f"ema_decay must be between 0 and 1 (exclusive), got {decay!r}", where="--ema-decay",
                         fix="use e.g. 0.999, or leave it out to release the trained generator itself")
    if not valid_lr(opts["lr"]) or not opts["gp_weight"] >= 0:
        raise InputError(f"lr {opts['lr']} must be in (0, {MAX_LR:g}] and gp_weight {opts['gp_weight']} >= 0",
                         fix="GMI uses lr 2e-4 and gp_weight 10")


def _write_checkpoint(checkpoint: Checkpoint, *, config: dict, epoch: int, step: int, history: list,
                      objects: dict) -> None:
    checkpoint.save(kind=CHECKPOINT_FORMAT, identity=config,
                    state={**states(objects), "epoch": epoch, "step": step, "history": history})
