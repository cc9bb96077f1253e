"""`hardener export`: a model file to a safetensors bundle and ONNX checked against onnxruntime (TorchScript on
request), with report.json (sha256 of every file, parity per batch size)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_FORMATS = ("onnx", "safetensors")


@dataclass
class ExportJob:
    model: Path
    out: Path
    formats: tuple[str, ...] = DEFAULT_FORMATS
    arch: str | None = None
    variant: str | None = None
    image_size: int | None = None
    spec_changes: dict = field(default_factory=dict)
    allow_pickle: bool = False
    seed: int = 0  # of the random parity images


def run_export(job: ExportJob) -> dict:
    """Load, export into --out (never over the input), write report.json; returns the report (with the
    loader's warnings under "warnings")."""
    from hardener.export import export_model
    from hardener.files import prepare_out_dir, write_json
    from hardener.loading import load_model
    from hardener.summary import model_summary

    loaded = load_model(job.model, job.arch, variant=job.variant, image_size=job.image_size,
                        allow_pickle=job.allow_pickle, spec_changes=job.spec_changes)
    out_dir = prepare_out_dir(job.out, inputs=(job.model,))
    result = export_model(loaded.model, out_dir, formats=job.formats, stem=job.model.stem.split(".")[0] or "model",
                          class_names=loaded.class_names, source_sha256=loaded.source_sha256, seed=job.seed,
                          inputs=(job.model,))
    report = {"command": "export", "model": model_summary(loaded), **result.to_report(),
              "warnings": list(loaded.warnings)}
    write_json(out_dir / "report.json", report)
    return report
