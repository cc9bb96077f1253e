"""`hardener audit-mia` as one library call: check the inputs, run the threshold attacks and (with
shadows) LiRA, write report.json and roc.png."""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import torch

from hardener.audit.lira import (LIRA_NOTE, PER_EXAMPLE_VARIANCE_MIN, check_shadow_halves, lira_scores,
                                 shadow_masks, shadow_phis, shadow_pool)
from hardener.audit.mia import (BALANCED_ACCURACY_NOTE, MAX_AUC_NOTE, TPR_NOTE, check_audit_sets, logit_confidence,
                                strongest_attack, threshold_results)
from hardener.audit.roc import TARGET_FPRS, RocResult, evaluate
from hardener.data import FaceDataset
from hardener.errors import InputError
from hardener.progress import ProgressEvent, ProgressFn, no_progress
from hardener.train import TrainConfig


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
        pool = shadow_pool([d for d in (members, non_members, reference) if d is not None], target.spec.image_size)
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
