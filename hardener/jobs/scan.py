"""`hardener scan`: which identities leak most, before choosing what to protect.

A cheap attack (default: plg-margin at the standard budget, 120 steps, 2 restarts) on every class of the
model, judged by the evaluation model, then one row per class ranked by how much it leaks: attack top-1 (share of restarts
the evaluation model names as the person), then the evaluation model's mean confidence in the person, then
the KNN distance to the person's real photos (closer = leakier). The suggested `--protect` list is the
`suggest` leakiest classes whose attack top-1 is above 0 (a class no restart recovered is not suggested).
A cheap attack understates leaks: a class low in the ranking is not shown safe, only less exposed.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


from hardener.progress import ProgressFn, no_progress

PHOTOS_PER_CLASS = 1


@dataclass
class ScanJob:
    model: Path
    gan: Path
    eval_model: Path
    data: str
    out: Path
    critic: Path | None = None
    preset: str = "plg-margin"
    budget: str = "standard"
    steps: int | None = None
    restarts: int | None = 2
    suggest: int = 5
    top_k: int = 8  # classes shown in leaks.png
    seed: int = 0
    device: str = "auto"
    arch: str | None = None
    spec_changes: dict = field(default_factory=dict)
    allow_pickle: bool = False


def rank_classes(per_class: dict[int, dict[str, float]], target_confidence: dict[int, float]) -> list[int]:
    """Leakiest first: attack top-1, then evaluation confidence, then KNN distance (smaller leaks more)."""
    return sorted(per_class, key=lambda c: (-per_class[c]["top1"], -per_class[c]["confidence"],
                                            per_class[c]["knn_distance"], -target_confidence[c], c))


def run_scan(job: ScanJob, progress: ProgressFn = no_progress) -> dict:
    """Attack every class, rank, suggest, write report.json and leaks.png into job.out."""
    from hardener.jobs.attack import _private_images, load_attack_job
    from hardener.audit.metrics import attack_metrics
    from hardener.checkpoint import CacheFolder
    from hardener.classes import label
    from hardener.errors import InputError
    from hardener.files import prepare_out_dir, write_json
    from hardener.report.images import class_grid, provenance, save_png

    if job.suggest < 0 or job.top_k < 1:
        raise InputError("--suggest must be 0 or more and --top-k at least 1", where="--suggest/--top-k",
                         fix="e.g. --suggest 5 --top-k 8")
    attack, budget, steps, restarts, device, target, gan, evaluator, private = load_attack_job(job)
    classes = list(range(target.num_classes))
    out = prepare_out_dir(job.out, inputs=tuple(p for p in (job.model, job.gan, job.eval_model, job.critic) if p))

    inverted = attack.prepare(target.model, gan.generator, gan.latent_dim, caches=CacheFolder(out / "surrogates"),
                              budget_fraction=budget.steps_fraction, seed=job.seed, device=device, progress=progress,
                              public_classifier=gan.classifier)
    result = attack.run(gan.generator, gan.critic, inverted, classes, latent_dim=gan.latent_dim, seed=job.seed,
                        steps=steps, restarts=restarts, device=device, progress=progress,
                        public_classifier=gan.classifier)
    metrics = attack_metrics(result, evaluator.model, private, device=device)
    target_confidence = {c: float(result.confidence[result.targets == c].mean()) for c in classes}
    order = rank_classes(metrics.per_class, target_confidence)
    names = target.class_names
    ranking = [{"rank": i + 1, "index": c, "label": label(c, names), "attack_top1": metrics.per_class[c]["top1"],
                "attack_top5": metrics.per_class[c]["top5"], "eval_confidence": metrics.per_class[c]["confidence"],
                "target_confidence": target_confidence[c], "knn_distance": metrics.per_class[c]["knn_distance"]}
               for i, c in enumerate(order)]
    suggested = [r["index"] for r in ranking if r["attack_top1"] > 0][:job.suggest]
    shown = order[:job.top_k]
    rows = [[_private_images(private, [c], gan.image_size)[:PHOTOS_PER_CLASS], result.images[result.targets == c]]
            for c in shown]
    grid = save_png(class_grid(rows, gan.image_size), out / "leaks.png")
    report = {
        "command": "scan",
        "preset": attack.name,
        "budget": budget.name,
        "inversion": {"steps": steps, "restarts": restarts, "steps_run": result.steps_run, "seed": job.seed,
                      "seconds": round(result.seconds, 2), "device": str(device)},
        "ranking": ranking,
        "suggested_protect": suggested,
        "suggested_command": " ".join(f"--protect {c}" for c in suggested),
        "overall": {"top1": metrics.top1, "top5": metrics.top5, "chance_top1": 1 / target.num_classes},
        "grid": str(grid),
        "grid_layout": f"the {len(shown)} leakiest classes, one row each: a real photo, then every restart's reconstruction",
        "note": "a cheap attack understates leaks: a class ranked low is less exposed, not shown safe",
        "versions": provenance(),
    }
    write_json(out / "report.json", report)
    return report
