"""`hardener train classifier` as one library call: load and split the data, train with checkpoints, write
the bundle and report.json."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from hardener.data import FaceDataset, require_identities
from hardener.errors import InputError
from hardener.progress import ProgressFn, no_progress
from hardener.train import TrainConfig, train_classifier


@dataclass
class ClassifierJob:
    """Everything `hardener train classifier` needs; the function below does the whole job."""

    data: str
    arch: str
    out: Path
    variant: str | None = None
    image_size: int | None = None
    val: str | None = None  # explicit held-out data; otherwise `val_fraction` of each identity
    val_fraction: float = 0.2
    classes_from: Path | None = None
    skip_bad_images: bool = False
    device: str = "auto"
    resume: bool = False
    config: TrainConfig = field(default_factory=TrainConfig)


def run_classifier_job(job: ClassifierJob, progress: ProgressFn = no_progress) -> dict:
    """Load and split the data, build the model, train with checkpoints, write the bundle and report.json."""
    from hardener.classes import read_class_names_any
    from hardener.data import load_dataset, subset
    from hardener.data.splits import split_by_image
    from hardener.device import resolve_device
    from hardener.files import prepare_out_dir, write_json
    from hardener.jobs.checkpoints import CLASSIFIER_CHECKPOINT, checkpoint
    from hardener.registry import build_model
    from hardener.loading import save_bundle

    device = resolve_device(job.device)
    data = load_dataset(job.data, skip_bad_images=job.skip_bad_images)
    if job.classes_from is not None:
        data = _restrict_to_names(data, read_class_names_any(job.classes_from), job.classes_from)
    require_identities(data)
    if job.val is not None:
        train, val = data, load_dataset(job.val, skip_bad_images=job.skip_bad_images)
    elif job.val_fraction > 0:
        train_rows, val_rows = split_by_image(data.labels, job.val_fraction, seed=job.config.seed)
        train, val = subset(data, train_rows, note="train"), subset(data, val_rows, note="held-out")
    else:
        train, val = data, None
    run_checkpoint = checkpoint(job.out, CLASSIFIER_CHECKPOINT, job.resume)
    out = prepare_out_dir(job.out, outputs=("model.safetensors", "report.json", "checkpoints"))
    torch.manual_seed(job.config.seed)
    model = build_model(job.arch, job.variant, int(data.labels.max()) + 1, job.image_size)
    result = train_classifier(model, train, val=val, config=job.config, device=device,
                              checkpoint=run_checkpoint, progress=progress)
    bundle = save_bundle(model.cpu(), out / "model.safetensors", class_names=data.names,
                         produced_by="hardener train classifier")
    report = {
        "command": "train classifier",
        "model": {"path": str(bundle), "arch": model.arch, "variant": model.variant, "classes": model.num_classes,
                  "input_spec": model.spec.describe()},
        "data": {"source": data.source, "images": len(data), "identities": int(len(np.unique(data.labels))),
                 "train_images": len(train), "held_out_images": len(val) if val is not None else 0,
                 "skipped_bad_images": data.skipped},
        "config": {**job.config.__dict__, "device": str(device), "val_fraction": job.val_fraction},
        "history": result.history,
        "final": result.final,
        "seconds": round(result.seconds, 2),
        "resumed_from_epoch": result.resumed_from_epoch,
    }
    if result.rows_per_rank:  # torchrun: DistributedDataParallel over the ranks
        report["ranks"] = {"world_size": len(result.rows_per_rank), "rows_per_rank": result.rows_per_rank}
    write_json(out / "report.json", report)
    return report


def _restrict_to_names(data: FaceDataset, names: list[str], where: Path) -> FaceDataset:
    from hardener.data import subset

    if not data.names:
        raise InputError("--classes-from needs data with identity names", where=data.source,
                         fix="use an ImageFolder or an npz with a names array")
    index = {n: i for i, n in enumerate(data.names)}
    unknown = [n for n in names if n not in index]
    if unknown:
        raise InputError(f"{len(unknown)} names are not in the data, e.g. {unknown[0]!r}", where=str(where),
                         fix="check spelling against the dataset's names")
    return subset(data, np.flatnonzero(np.isin(data.labels, [index[n] for n in names])), relabel=True,
                  note=f"classes from {where.name}")
