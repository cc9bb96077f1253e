"""`hardener info`: what a model file is; with held-out data, whether its declared input spec fits."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class InfoJob:
    model: Path
    data: Path | None = None  # labelled held-out images: score the input spec against common alternatives
    arch: str | None = None
    variant: str | None = None
    image_size: int | None = None
    spec_changes: dict = field(default_factory=dict)
    allow_pickle: bool = False


def run_info(job: InfoJob) -> dict:
    """The model's summary with the loader's "warnings"; with data, its "spec_check" holds the accuracy under
    each candidate spec, the declared one named, and the verdict."""
    from hardener.loading import load_model
    from hardener.summary import model_summary

    loaded = load_model(job.model, job.arch, variant=job.variant, image_size=job.image_size,
                        allow_pickle=job.allow_pickle, spec_changes=job.spec_changes)
    summary = model_summary(loaded)
    if job.data is not None:
        from hardener.data import load_dataset
        from hardener.spec_check import check_spec

        check = check_spec(loaded.model, load_dataset(job.data))
        summary["spec_check"] = {
            "data": str(job.data), "images": check.images, "clearly_wrong": check.clearly_wrong,
            "verdict": check.verdict(), "accuracy": {s.name: s.accuracy for s in check.scores},
            "declared": check.declared.name,
        }
    summary["warnings"] = list(loaded.warnings)
    return summary
