"""Several processes of one command, launched by torchrun (`torchrun --nproc-per-node N -m hardener ...`).

Read from torchrun's environment (RANK, WORLD_SIZE, LOCAL_RANK), so a single process needs nothing. The
inversion engine splits its classes across ranks and gathers every row on every rank (rows are seeded by
(seed, class, restart), so the split does not change them); only rank 0 writes files and draws progress.
gloo on the CPU, NCCL on CUDA (each rank on the card of its LOCAL_RANK).
"""
from __future__ import annotations

import atexit
import os
from datetime import timedelta
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Iterator, Sequence, TypeVar

T = TypeVar("T")


def world_size() -> int:
    return int(os.environ.get("WORLD_SIZE", "1"))


def rank() -> int:
    return int(os.environ.get("RANK", "0"))


def is_main() -> bool:
    """Rank 0, the one process that writes outputs (always true without torchrun)."""
    return rank() == 0


_alone: ContextVar[bool] = ContextVar("hardener_rank_alone", default=False)


def active() -> bool:
    """Launched with more than one process and the process group is up (and not inside `alone()`)."""
    if world_size() < 2 or _alone.get():
        return False
    import torch.distributed as dist

    return dist.is_available() and dist.is_initialized()


def start() -> None:
    """Join the process group torchrun set up the environment for (a no-op for one process)."""
    if world_size() < 2:
        return
    import torch
    import torch.distributed as dist

    if dist.is_initialized():
        return
    if torch.cuda.is_available():
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group("nccl")
    else:
        dist.init_process_group("gloo")
    atexit.register(_leave)


LEAVE_WAIT = timedelta(seconds=60)  # rank 0 may still be writing outputs (ONNX, reports) when the others finish


def _leave() -> None:
    """Leave the process group together, before the interpreter tears down. A rank that destroyed its gloo
    group while the other was still tearing down its own aborted at exit after the work was done ('terminate
    called without an active exception', exit -6): 1 of 16 torchrun launches of tests/distributed_check.py
    and 3 of 8 under pytest (session 18), with destroy_process_group alone. With a barrier first: 0 of 30 and
    0 of 6. The barrier is monitored, so a rank that failed or left costs at most LEAVE_WAIT, not a hang."""
    import torch.distributed as dist

    if not dist.is_initialized():
        return
    try:
        if dist.get_backend() == "gloo":
            dist.monitored_barrier(timeout=LEAVE_WAIT)
        else:
            dist.barrier()
    except Exception:  # another rank failed or already left: nothing to wait for
        pass
    dist.destroy_process_group()


def shard(items: Sequence[T]) -> list[T]:
    """This rank's share, interleaved (rank r takes items r, r + N, ...) so shares differ by at most one."""
    return list(items[rank()::world_size()])


def gather(value: Any) -> list[Any]:
    """Every rank's value, in rank order, on every rank."""
    if not active():
        return [value]
    import torch.distributed as dist

    values: list[Any] = [None] * world_size()
    dist.all_gather_object(values, value)
    return values


def broadcast(value: Any, src: int = 0) -> Any:
    """Rank `src`'s value on every rank (pickled; for small objects and checkpoints, not for hot loops)."""
    if not active():
        return value
    import torch.distributed as dist

    box = [value]
    dist.broadcast_object_list(box, src=src)
    return box[0]


def sums(values: Sequence[float]) -> list[float]:
    """Element-wise sums of every rank's `values` (the same length on every rank), on every rank."""
    return [float(sum(column)) for column in zip(*gather([float(v) for v in values]))]


@contextmanager
def alone() -> Iterator[None]:
    """Inside the block this process works by itself: `active()` is false, so the engine and training do not
    wait for the other ranks. For work that is already split across ranks (e.g. one shadow model per rank)."""
    token = _alone.set(True)
    try:
        yield
    finally:
        _alone.reset(token)
