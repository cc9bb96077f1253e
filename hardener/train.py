"""Classifier training: target, public and evaluation models all come from this one loop.

Deterministic on CPU for a given seed (a seeded generator drives batch order and augmentation), a
checkpoint after every epoch, and a resuming `Checkpoint` continues an interrupted run to the same weights.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import torch
import torch.nn.functional as F

from hardener import ranks
from hardener.arch import FaceModel
from hardener.data import FaceDataset, fingerprint, require_identities, to_model_input
from hardener.evaluate import accuracy
from hardener.errors import InputError
from hardener.checkpoint import Checkpoint, restore, states
from hardener.progress import ProgressEvent, ProgressFn, no_progress


MAX_LR = 10.0  # far above any useful rate; beyond it Adam's step overflows float32 inside torch


def valid_lr(lr: float) -> bool:
    return math.isfinite(lr) and 0 < lr <= MAX_LR


@dataclass
class TrainConfig:
    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    weight_decay: float = 5e-4
    augment: bool = True  # horizontal flip and a small random shift: faces are roughly symmetric
    seed: int = 0
    label_smoothing: float = 0.0  # < 0: negative label smoothing (NegLS), a model-inversion defense
    smoothing_schedule: str = "constant"  # "negls": none for the first half, ramped in over the third quarter
    random_erasing: float = 0.0  # share of training images with one random rectangle erased (MIDRE defense)
    erasing_area: tuple[float, float] = (0.1, 0.4)  # share of the image one erased rectangle covers


class Objective:
    """What a defense changes in the one training loop, so that every defense gets progress, checkpoints and
    `--resume` from it instead of a loop of its own. The default is (smoothed) cross-entropy on the model's
    logits; a defense overrides `loss` (MID, BiDO, Trap-MID) and may add trainable parameters, state that the
    checkpoint must carry, a wrapped optimizer and its own batch sampling (DP-SGD), and per-epoch figures."""

    def parameters(self) -> list[torch.nn.Parameter]:
        """Trainable tensors besides the model's (e.g. MID's bottleneck); optimised with the model's."""
        return []

    def state(self) -> dict[str, Any]:
        """Modules, optimizers and generators to checkpoint with the model (names must not be the loop's)."""
        return {}

    def identity(self) -> dict:
        """What else must match for `--resume` (the defense's options)."""
        return {}

    def wrap_optimizer(self, optimizer: torch.optim.Optimizer) -> torch.optim.Optimizer:
        return optimizer

    def batches(self, order: torch.Tensor, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
        """The rows of each step of an epoch, from a random permutation of the training set."""
        return list(order.split(batch_size))

    def loss(self, model: FaceModel, x: torch.Tensor, y: torch.Tensor, smoothing: float,
             generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """(loss to minimise, logits for the training accuracy) of one augmented batch."""
        logits = model(x)
        return smoothed_cross_entropy(logits, y, smoothing), logits

    def end_epoch(self, epoch: int) -> dict:
        """Figures for the epoch's history row (e.g. DP-SGD's epsilon so far)."""
        return {}


@dataclass
class TrainResult:
    model: FaceModel
    history: list[dict] = field(default_factory=list)  # one row per epoch
    seconds: float = 0.0
    resumed_from_epoch: int = 0
    details: dict = field(default_factory=dict)  # what a defense reports about its training (e.g. DP epsilon)
    images: dict = field(default_factory=dict)  # name -> (H, W, 3) uint8 grid a defense shows beside the model
    rows_per_rank: list[int] = field(default_factory=list)  # under DDP: training rows each rank took (this run)

    @property
    def final(self) -> dict:
        return self.history[-1] if self.history else {}


def train_classifier(model: FaceModel, train: FaceDataset, *, val: FaceDataset | None = None,
                     config: TrainConfig = TrainConfig(), device: torch.device | str = "cpu",
                     checkpoint: Checkpoint | None = None, frozen: Sequence[torch.nn.Module] = (),
                     run_identity: dict | None = None, objective: Objective | None = None,
                     progress: ProgressFn = no_progress) -> TrainResult:
    """Train `model` in place with AdamW + cosine schedule and cross-entropy (or a defense's `objective`);
    returns it with its history.

    `frozen` modules stay in eval mode (BatchNorm statistics and dropout untouched; the caller turns their
    gradients off). With a `checkpoint` the state is saved after every epoch, and when it resumes the run
    continues from there; `run_identity` adds what else must match for that (e.g. the pretrained model's
    hash), besides the config and the training images.

    Under torchrun (`ranks.active()`) with the plain objective, the ranks train one model with
    DistributedDataParallel (see `hardener.ddp`): each takes its share of every global batch, BatchNorm uses
    the global batch's statistics, and the result equals one process's up to float rounding; only rank 0
    writes the checkpoint and reports progress, and a resume reads rank 0's checkpoint on every rank. A
    defense's own objective keeps training the whole model on every rank alike."""
    require_identities(train)
    if int(train.labels.max()) >= model.num_classes:
        raise InputError(f"labels go up to {int(train.labels.max())} but the model has {model.num_classes} classes",
                         where=train.source, fix="build the model with as many classes as the data has")
    if config.epochs < 1 or config.batch_size < 1:
        raise InputError("--epochs and --batch-size must be at least 1", fix="e.g. --epochs 20 --batch-size 64")
    check_regularisers(config)
    if not valid_lr(config.lr):
        raise InputError(f"the learning rate must be a positive number up to {MAX_LR:g}, got {config.lr}", where="--lr",
                         fix="e.g. --lr 1e-3")
    device = torch.device(device)
    size = model.spec.image_size
    dtype = next(model.parameters()).dtype  # a float64 model (e.g. for exact comparisons) gets float64 images
    x_train, y_train = to_model_input(train.images, size).to(dtype), torch.from_numpy(train.labels)
    x_val = to_model_input(val.images, size).to(dtype) if val is not None and len(val) else None
    y_val = torch.from_numpy(val.labels) if x_val is not None else None

    objective = objective or Objective()
    parallel = ranks.active() and type(objective) is Objective
    if parallel:
        from hardener.ddp import check_batches

        check_batches(len(y_train), config.batch_size, ranks.world_size())
        if not ranks.is_main():
            progress = no_progress
    model.to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not trainable:
        raise InputError("every parameter of the model is frozen; nothing to train", fix="freeze fewer layer groups")
    optimizer = torch.optim.AdamW(trainable + objective.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    generator = torch.Generator().manual_seed(config.seed)
    result = TrainResult(model)
    identity = {**config.__dict__, "data_sha256": fingerprint(train), **objective.identity(), **(run_identity or {})}
    objects = {"model": model, "optimizer": optimizer, "scheduler": scheduler, "generator": generator,
               **objective.state()}
    stepper = objective.wrap_optimizer(optimizer)
    start_epoch = 0
    if checkpoint is not None and checkpoint.resume:
        start_epoch = _restore(checkpoint, objects, result, identity, everywhere=parallel)
    net, ddp = model, None
    if parallel:
        from hardener.ddp import DataParallel

        ddp = DataParallel(model, tuple(frozen), device)
        net = ddp.net
    try:
        steps_per_epoch = -(-len(y_train) // config.batch_size)
        started = time.perf_counter()
        rows_per_rank = [0] * (ddp.world if ddp else 1)
        for epoch in range(start_epoch, config.epochs):
            # dropout etc. replay identically after --resume (and differ between ranks, which see other images)
            torch.manual_seed(config.seed * 1000 + epoch + (7919 * ddp.rank if ddp else 0))
            model.train()
            for module in frozen:
                module.eval()
            order = torch.randperm(len(y_train), generator=generator)
            total_loss, seen, correct = 0.0, 0, 0
            for step, rows in enumerate(objective.batches(order, config.batch_size, generator)):
                if len(rows) < 2 and len(order) > 1:  # BatchNorm cannot train on a batch of one
                    continue
                x = x_train[rows]
                if config.augment:
                    x = flip_and_shift(x, generator)
                if config.random_erasing > 0:
                    x = random_erase(x, config.random_erasing, generator, area=config.erasing_area)
                if ddp is not None:  # the whole global batch was augmented (same draws on every rank); take my share
                    mine, weight = ddp.share(rows)
                    x, rows = x[mine], rows[mine]
                x, y = x.to(device, non_blocking=True), y_train[rows].to(device, non_blocking=True)
                loss, logits = objective.loss(net, x, y, smoothing_at(config, epoch), generator)
                stepper.zero_grad(set_to_none=True)
                if ddp is None:
                    loss.backward()
                else:
                    ddp.backward(loss * weight)
                stepper.step()
                total_loss += float(loss.detach()) * len(rows)
                correct += int((logits.detach().argmax(1) == y).sum())
                seen += len(rows)
                progress(ProgressEvent("train classifier", epoch * steps_per_epoch + step + 1,
                                       config.epochs * steps_per_epoch,
                                       {"loss": float(loss.detach()), "epoch": epoch + 1}))
            scheduler.step()
            if ddp is not None:
                counts = ranks.gather(seen)
                rows_per_rank = [a + b for a, b in zip(rows_per_rank, counts)]
                total_loss, correct, seen = ranks.sums([total_loss, correct, seen])
                ddp.check_replicas(epoch + 1)
            row = {"epoch": epoch + 1, "loss": total_loss / max(seen, 1), "train_acc": correct / max(seen, 1),
                   "lr": scheduler.get_last_lr()[0], **objective.end_epoch(epoch)}
            if x_val is not None:
                row["val_acc"] = accuracy(model, x_val, y_val, device=device)
            result.history.append(row)
            if checkpoint is not None and (ddp is None or ranks.is_main()):
                elapsed = result.seconds + time.perf_counter() - started
                _save(checkpoint, objects, result, epoch + 1, elapsed, identity)
            progress(ProgressEvent("train classifier", (epoch + 1) * steps_per_epoch, config.epochs * steps_per_epoch,
                                   row, message=_epoch_line(row, config.epochs)))
        result.seconds += time.perf_counter() - started
        if ddp is not None:
            result.rows_per_rank = rows_per_rank
    finally:
        if ddp is not None:
            ddp.close()
    model.eval()
    return result


def check_regularisers(config: TrainConfig) -> None:
    if not (math.isfinite(config.label_smoothing) and -1.0 <= config.label_smoothing < 1.0):
        raise InputError(f"label smoothing {config.label_smoothing} is outside -1 .. 1", where="--label-smoothing",
                         fix="e.g. -0.05 (negative label smoothing) or 0.1")
    if config.smoothing_schedule not in ("constant", "negls"):
        raise InputError(f"unknown smoothing schedule {config.smoothing_schedule!r}", fix="use constant or negls")
    if not (math.isfinite(config.random_erasing) and 0.0 <= config.random_erasing <= 1.0):
        raise InputError(f"random erasing {config.random_erasing} is not a probability", where="--random-erasing",
                         fix="e.g. --random-erasing 0.5")
    low, high = config.erasing_area
    if not (math.isfinite(low) and math.isfinite(high) and 0.0 < low <= high <= 1.0):
        raise InputError(f"erasing area {low}-{high} is not a range of image shares", where="--erase-area",
                         fix="e.g. --erase-area 0.1-0.4")


def smoothing_at(config: TrainConfig, epoch: int) -> float:
    """The smoothing factor of an epoch (0-based). The "negls" schedule follows the NegLS paper's code
    (Struppek et al., ICLR 2024: none for the first 50 of 100 epochs, ramped in over epochs 50-74, full from
    75; we ramp linearly to the full factor where theirs ramps to half and then jumps), scaled to any length:
    the model first learns the task with plain cross-entropy, then the negative factor sets in."""
    if config.smoothing_schedule == "constant" or config.label_smoothing == 0:
        return config.label_smoothing
    start, ramp = config.epochs // 2, max(1, config.epochs // 4)
    return config.label_smoothing * min(1.0, max(0.0, (epoch + 1 - start) / ramp))


def smoothed_cross_entropy(logits: torch.Tensor, target: torch.Tensor, alpha: float) -> torch.Tensor:
    """Cross-entropy against (1 - alpha) * one-hot + alpha / C. torch's own `label_smoothing` accepts only
    alpha in [0, 1]; a negative alpha (NegLS) pushes every other class's probability down, which leaves a
    model-inversion attack less signal in the class's neighbourhood."""
    if alpha == 0:
        return F.cross_entropy(logits, target)
    log_p = F.log_softmax(logits.float(), dim=1)
    nll = -log_p.gather(1, target[:, None]).squeeze(1)
    return ((1.0 - alpha) * nll - alpha * log_p.mean(1)).mean()


def random_erase(x: torch.Tensor, probability: float, generator: torch.Generator,
                 area: tuple[float, float] = (0.1, 0.4), ratio: tuple[float, float] = (0.3, 3.3)) -> torch.Tensor:
    """Random erasing (Zhong et al. 2020) as the MIDRE defense uses it: with `probability`, one rectangle of
    10-40 % of the image (aspect 0.3-3.3) gets uniform noise, so no training image shows the whole face.
    Drawn from the training generator, so --resume replays it."""
    x = x.clone()
    n, _, h, w = x.shape
    draws = torch.rand(n, 5, generator=generator)
    noise = torch.rand(x.shape, generator=generator)
    for i in range(n):
        if draws[i, 0] >= probability:
            continue
        target_area = h * w * (area[0] + (area[1] - area[0]) * float(draws[i, 1]))
        aspect = math.exp(math.log(ratio[0]) + (math.log(ratio[1]) - math.log(ratio[0])) * float(draws[i, 2]))
        eh = max(1, min(h, round(math.sqrt(target_area * aspect))))
        ew = max(1, min(w, round(math.sqrt(target_area / aspect))))
        top = int(float(draws[i, 3]) * (h - eh + 1))
        left = int(float(draws[i, 4]) * (w - ew + 1))
        x[i, :, top:top + eh, left:left + ew] = noise[i, :, top:top + eh, left:left + ew]
    return x


def flip_and_shift(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Training's augmentation: each image flipped with probability 1/2, the batch shifted by up to 1/16 of a side."""
    flip = torch.rand(len(x), generator=generator) < 0.5
    x = torch.where(flip[:, None, None, None], x.flip(3), x)
    pad = max(1, x.shape[-1] // 16)
    dx, dy = (int(v) for v in torch.randint(-pad, pad + 1, (2,), generator=generator))
    return torch.roll(x, shifts=(dy, dx), dims=(2, 3))


def _epoch_line(row: dict, epochs: int) -> str:
    val = f", held-out acc {row['val_acc']:.1%}" if "val_acc" in row else ""
    return f"epoch {row['epoch']}/{epochs}: loss {row['loss']:.3f}, train acc {row['train_acc']:.1%}{val}"


CHECKPOINT_KIND = "hardener-classifier-checkpoint/1"


def _save(checkpoint: Checkpoint, objects: dict, result: TrainResult, epoch: int, seconds: float,
          identity: dict) -> None:
    checkpoint.save(kind=CHECKPOINT_KIND, identity=identity,
                    state={**states(objects), "epoch": epoch, "history": result.history, "seconds": seconds})


def _restore(checkpoint: Checkpoint, objects: dict, result: TrainResult, identity: dict, everywhere: bool = False) -> int:
    """Load the checkpoint into `objects`. `everywhere`: rank 0 reads it and sends it to every rank (the
    others may not even see rank 0's disk), and an error there is raised on every rank."""
    if not everywhere:
        state = checkpoint.load(kind=CHECKPOINT_KIND, identity=identity)
    else:
        sent = None
        if ranks.is_main():
            try:
                sent = checkpoint.load(kind=CHECKPOINT_KIND, identity=identity)
            except InputError as error:
                sent = {"error": (error.what, error.where, error.fix)}
        state = ranks.broadcast(sent)
        if "error" in state and "format" not in state:
            what, where, fix = state["error"]
            raise InputError(what, where=where, fix=fix)
    restore(objects, state, checkpoint.path)
    result.history = list(state["history"])
    result.seconds = float(state["seconds"])
    result.resumed_from_epoch = int(state["epoch"])
    return result.resumed_from_epoch
