"""Run by tests/test_distributed.py under torchrun (2 gloo ranks); rank 0 writes what the test compares to
argv[1] as JSON; argv[2] is a scratch folder. One launch for two checks, since starting torchrun costs more
than either:

- `train_classifier` on one process (each rank alone), with DistributedDataParallel, with a deliberately
  wrong share (every rank takes rank 0's rows), and interrupted after epoch 1 then resumed under DDP from
  rank 0's checkpoint;
- LiRA's shadow models on one process and split across the ranks.

In float64 with plain SGD, because AdamW divides every gradient element by its own size: a rounding
difference in a near-zero element becomes a whole step of the other sign, so float32 AdamW weights differ by
~lr in places after one step, right or wrong. Batches of 7 (21 images: three per epoch, each split 4/3, so the
loss weighting of unequal shares matters) keep this tiny ResNet well-conditioned: a batch of 3 at 16 px
normalises the 1x1 last block over 3 values, and a 1e-13 change of one weight then grows to 0.5 in 8 steps
even in one process. Here a correct split stays within ~1e-10 of one process; a wrong one is far off.
"""
from __future__ import annotations

import copy
import json
import shutil
import sys
from pathlib import Path

import torch


def main() -> None:
    from hardener import ranks

    ranks.start()
    report = {**check_training(Path(sys.argv[2])), **check_lira()}
    if ranks.is_main():
        Path(sys.argv[1]).write_text(json.dumps(report))


def check_training(scratch: Path) -> dict:
    from hardener import ranks
    from hardener import ddp
    from hardener.checkpoint import Checkpoint
    from hardener.progress import ProgressEvent, no_progress
    from hardener.data import load_dataset
    from hardener.registry import build_model
    from hardener.train import TrainConfig, train_classifier

    adamw = torch.optim.AdamW  # torch's, swapped for SGD (see the docstring); the loop itself is not touched
    torch.optim.AdamW = lambda params, lr, weight_decay: torch.optim.SGD(params, lr=lr, weight_decay=weight_decay)
    data = load_dataset("synthetic:ids=3,per=7,size=16,seed=0")  # 21 images
    config = TrainConfig(epochs=2, batch_size=7, lr=0.01, seed=3)  # with the default flip/shift augmentation
    torch.manual_seed(3)
    start = build_model("resnet", "resnet10", 3, 16).double()  # train_classifier feeds it float64 images

    resumed_from: list[int] = []

    def run(folder: Path | None = None, resume: bool = False, progress=no_progress) -> tuple[dict, list[dict], list[int]]:
        model = copy.deepcopy(start)
        checkpoint = Checkpoint(folder / "checkpoint.pt", resume) if folder is not None else None
        result = train_classifier(model, data, val=data, config=config, checkpoint=checkpoint, progress=progress)
        resumed_from.append(result.resumed_from_epoch)
        return model.state_dict(), result.history, result.rows_per_rank

    with ranks.alone():
        one, one_history, _ = run()
    two, two_history, rows_per_rank = run()

    # the state an interruption after epoch 1 leaves: rank 0's checkpoint of epoch 1, copied aside when its
    # epoch line is reported (progress runs on rank 0 only). Rank 1 resumes from a folder without a
    # checkpoint, so the resumed run only works if rank 0's checkpoint reaches it
    folder = scratch / ("rank0" if ranks.is_main() else "rank1")
    interrupted = folder / "interrupted"

    def keep_epoch_1(event: ProgressEvent) -> None:
        if event.message and event.metrics.get("epoch") == 1:
            interrupted.mkdir()
            shutil.copy(folder / "checkpoint.pt", interrupted / "checkpoint.pt")

    run(folder, progress=keep_epoch_1)
    if not ranks.is_main():
        assert not folder.exists(), "only rank 0 writes checkpoints"
    resumed, resumed_history, _ = run(interrupted, resume=True)

    share = ddp.DataParallel.share  # fault injection, the one patch of ours: a wrong split must be far off
    ddp.DataParallel.share = lambda self, rows: (slice(0, None, self.world), share(self, rows)[1])
    wrong, _, _ = run()
    ddp.DataParallel.share = share
    torch.optim.AdamW = adamw

    def worst(other: dict) -> float:
        return max(float((one[k] - other[k]).abs().max()) for k in one if one[k].is_floating_point())

    return {"two_vs_one": worst(two), "wrong_vs_one": worst(wrong),
            "resumed_vs_two": max(float((two[k] - resumed[k]).abs().max()) for k in two),
            "one_history": one_history, "two_history": two_history, "resumed_history": resumed_history,
            "rows_per_rank": rows_per_rank, "resumed_from_epoch": resumed_from[3], "images": len(data)}


def check_lira() -> dict:
    """3 shadows (rank 0 trains shadows 1 and 3, rank 1 shadow 2) give the phis one process gives, bit for bit;
    when rank 1's shadow diverges, rank 0 (whose shadows trained) stops with rank 1's error instead of waiting."""
    from hardener import ranks
    from hardener.audit.lira import shadow_masks, shadow_phis
    from hardener.data.synthetic import synthetic_faces
    from hardener.errors import InputError
    from hardener.registry import build_model
    from hardener.train import TrainConfig

    pool = synthetic_faces(3, 6, 16, seed=1)
    target = build_model("resnet", "resnet10", 3, 16)
    masks = shadow_masks(len(pool), 3, seed=0)
    config = TrainConfig(epochs=1, batch_size=6, seed=4)
    with ranks.alone():
        alone = shadow_phis(target, pool, masks, 12, config)
    split = shadow_phis(target, pool, masks, 12, config)
    import hardener.audit.lira as lira

    build = lira.new_shadow

    def second_diverges(target: torch.nn.Module, seed: int) -> torch.nn.Module:
        shadow = build(target, seed)
        if seed == config.seed + 1:  # shadow 2, rank 1's
            with torch.no_grad():
                shadow.head_layer().weight.fill_(float("nan"))
        return shadow

    lira.new_shadow = second_diverges
    try:
        shadow_phis(target, pool, masks, 12, config)
        diverged = ""
    except InputError as error:
        diverged = str(error)
    lira.new_shadow = build
    return {"lira_phis_equal": bool((alone == split).all()), "lira_shape": list(split.shape), "diverged": diverged}


if __name__ == "__main__":
    main()
