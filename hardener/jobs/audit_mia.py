"""`hardener audit-mia` as one library call: check the inputs, run the threshold attacks and (with
shadows) LiRA, write report.json and roc.png."""
from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

from hardener.audit.lira import check_shadow_options, plan_shadows, run_lira
from hardener.audit.mia import (BALANCED_ACCURACY_NOTE, MAX_AUC_NOTE, TPR_NOTE, check_audit_sets, strongest_attack,
                                threshold_results)
from hardener.audit.roc import TARGET_FPRS
from hardener.jobs.checkpoints import check_shadow_resume, shadow_checkpoints
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
    resume: bool = False  # keep the shadows an interrupted run finished (--out/checkpoints)


def run_audit_mia(job: AuditMiaJob, progress: ProgressFn = no_progress) -> dict:
    """Load and check the inputs, run the threshold attacks and (with shadows) LiRA, write report.json and roc.png."""
    from hardener.report.plots import roc_png
    from hardener.data import load_dataset
    from hardener.device import resolve_device
    from hardener.files import prepare_out_dir, write_json
    from hardener.loading import load_model
    from hardener.report.images import provenance
    from hardener.summary import model_summary

    check_shadow_options(job.shadows, job.shadow_config)
    device = resolve_device(job.device)
    target = load_model(job.model, allow_pickle=job.allow_pickle)
    members, non_members = load_dataset(job.members), load_dataset(job.non_members)
    reference = load_dataset(job.reference) if job.reference else None
    check_audit_sets(members, non_members, target.num_classes, reference)
    plan = plan_shadows(target.model, members, non_members, reference, job.shadows, job.seed) if job.shadows else None
    data_paths = tuple(p for p in (job.members, job.non_members, job.reference) if p and Path(p).exists())
    if job.resume:
        check_shadow_resume(job.out, job.shadows)
    out = prepare_out_dir(job.out, inputs=(job.model, *data_paths), outputs=("report.json", "roc.png", "checkpoints"))

    results = threshold_results(target.model, members, non_members, device)
    progress(ProgressEvent("threshold attacks", 1, 1,
                           {"auc": strongest_attack({n: r.auc for n, r in results.items()})[1]}))
    config = {"shadows": job.shadows, "seed": job.seed, "device": str(device), "target_fprs": list(TARGET_FPRS)}
    if job.shadows:
        lira, lira_config = run_lira({"target": target.model}, members, non_members, plan,
                                     replace(job.shadow_config, seed=job.seed), device, progress,
                                     checkpoints=shadow_checkpoints(out, job.resume))
        results["lira"] = lira["target"]
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
