"""DistributedDataParallel for the one training loop (`torchrun --nproc-per-node N -m hardener train classifier`).

Every rank draws the same batch order and augmentation from the seeded generator, augments the whole global
batch, and trains on its interleaved share (rank r: rows r, r + N, ...). Each rank's loss is weighted by its
share of the global batch, so DDP's average of the gradients is the gradient of the global batch's mean loss,
as one process computes it, also when the last batch does not split evenly.

BatchNorm: synchronised. In training mode every BatchNorm normalises with the mean and variance of the whole
global batch (two all-reduces per layer and forward, and their gradients flow back through the all-reduces),
and updates its running statistics with them, so N ranks train the model one process trains (up to float
rounding) and every rank holds the same running statistics. Plain DDP would normalise each rank's share with
its own statistics (a different model for every N) and keep per-rank running statistics. torch's
SyncBatchNorm does the same on CUDA but refuses CPU tensors; this one runs on both, so the CPU test checks
the code a GPU runs.
"""
from __future__ import annotations

import hashlib
import types
import warnings

import torch
from torch import nn

from hardener import ranks
from hardener.errors import InputError


def check_batches(rows: int, batch_size: int, world: int) -> None:
    """Every batch the loop trains on must give every rank at least one row."""
    last = rows % batch_size if rows > batch_size else rows
    sizes = ({batch_size} if rows > batch_size else set()) | ({last} if last > 1 or rows == 1 else set())
    small = sorted(s for s in sizes if s < world)  # a batch of one is skipped (BatchNorm cannot train on it)
    if small:
        raise InputError(f"a batch of {small[0]} image(s) cannot be split over {world} processes",
                         where="--batch-size", fix=f"use at least {world} images per batch and a training set whose "
                         f"last batch has at least {world} images, or fewer processes")


class DataParallel:
    """The DDP-wrapped model and this rank's share of each batch, for one `train_classifier` call."""

    def __init__(self, model: nn.Module, frozen: tuple[nn.Module, ...], device: torch.device) -> None:
        from torch.nn.parallel import DistributedDataParallel

        self.rank, self.world = ranks.rank(), ranks.world_size()
        self.model = model
        self._patched = _synchronise_batch_norm(model, frozen)
        device_ids = [device.index] if device.type == "cuda" and device.index is not None else None
        # broadcasts rank 0's parameters and buffers now, so every rank starts from the same weights
        self.net = DistributedDataParallel(model, device_ids=device_ids)

    def share(self, rows: torch.Tensor) -> tuple[slice, float]:
        """This rank's part of a global batch (as a slice of it) and the weight of its mean loss."""
        mine = len(range(self.rank, len(rows), self.world))
        return slice(self.rank, None, self.world), mine * self.world / len(rows)

    def backward(self, loss: torch.Tensor) -> None:
        """`loss.backward()` through DDP. Its notice that a gradient's strides differ from its bucket's (1x1
        convolutions on tiny feature maps) is only about speed; it is silenced so the CLI does not repeat it."""
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Grad strides do not match bucket view strides")
            loss.backward()

    def check_replicas(self, epoch: int) -> None:
        """Every rank must hold bit-identical parameters and buffers; a difference is a bug, not bad input."""
        digest = hashlib.sha256()
        for tensor in self.model.state_dict().values():
            digest.update(tensor.detach().cpu().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes())
        digests = ranks.gather(digest.hexdigest())
        if len(set(digests)) != 1:
            raise RuntimeError(f"after epoch {epoch} the {self.world} ranks hold different weights")

    def close(self) -> None:
        """Give the model back as it was: plain BatchNorm forwards, no DDP hooks."""
        for module in self._patched:
            del module.forward
        self._patched = []
        del self.net


def _synchronise_batch_norm(model: nn.Module, frozen: tuple[nn.Module, ...]) -> list[nn.Module]:
    """Give every trainable BatchNorm layer the global-batch forward (the instance attribute shadows the class's
    method; parameters, buffers and state_dict keys stay as they are). Layers inside `frozen` stay in eval mode
    and keep theirs."""
    skip = {id(m) for f in frozen for m in f.modules()}
    patched = []
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and id(module) not in skip:
            module.forward = types.MethodType(_global_batch_norm, module)
            patched.append(module)
    return patched


def _global_batch_norm(bn: nn.modules.batchnorm._BatchNorm, x: torch.Tensor) -> torch.Tensor:
    if not bn.training:
        return type(bn).forward(bn, x)
    bn._check_input_dim(x)
    dims = [0, *range(2, x.dim())]
    shape = [1, -1] + [1] * (x.dim() - 2)
    count = torch.full((1,), x.numel() // x.shape[1], dtype=x.dtype, device=x.device)
    totals = _SumOverRanks.apply(torch.cat([x.sum(dims), count]))
    n = totals[-1].detach()
    mean = totals[:-1] / n
    centred = x - mean.view(shape)
    var = _SumOverRanks.apply(centred.pow(2).sum(dims)) / n  # two passes, as accurate as one process's batch norm
    y = centred * torch.rsqrt(var + bn.eps).view(shape)
    if bn.affine:
        y = y * bn.weight.view(shape) + bn.bias.view(shape)
    if bn.track_running_stats:
        with torch.no_grad():
            bn.num_batches_tracked.add_(1)
            momentum = 1.0 / float(bn.num_batches_tracked) if bn.momentum is None else bn.momentum
            bn.running_mean.mul_(1 - momentum).add_(mean.detach(), alpha=momentum)
            bn.running_var.mul_(1 - momentum).add_(var.detach() * n / (n - 1), alpha=momentum)
    return y


class _SumOverRanks(torch.autograd.Function):
    """The sum of a tensor over all ranks; its gradient is the sum of every rank's gradient of it."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        import torch.distributed as dist

        total = tensor.clone()
        dist.all_reduce(total)
        return total

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        import torch.distributed as dist

        total = grad.clone()
        dist.all_reduce(total)
        return total
