"""`hardener import`: a foreign model file to a bundle that records its real input spec, class names and the
source file's sha256, so later commands need no spec options."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from hardener.errors import InputError


@dataclass
class ImportJob:
    model: Path
    out: Path  # the .safetensors bundle to write
    arch: str | None = None
    variant: str | None = None
    image_size: int | None = None
    spec_changes: dict = field(default_factory=dict)
    class_names: Path | None = None  # one name per line, in label order
    allow_pickle: bool = False


def run_import(job: ImportJob) -> dict:
    """Check --out, load, write the bundle; returns what was written (and the loader's warnings)."""
    from hardener.classes import read_class_names
    from hardener.files import prepare_out_dir, refuse_input_overwrite
    from hardener.loading import load_model, save_bundle

    if job.out.is_dir():
        raise InputError("--out names an existing folder", where=str(job.out),
                         fix="name the file, e.g. --out DIR/model.safetensors")
    if job.out.suffix != ".safetensors":
        raise InputError("--out must name a .safetensors file", where=str(job.out), fix="e.g. --out model.safetensors")
    loaded = load_model(job.model, job.arch, variant=job.variant, image_size=job.image_size,
                        spec_changes=job.spec_changes, allow_pickle=job.allow_pickle)
    names = read_class_names(job.class_names, loaded.num_classes) if job.class_names else loaded.class_names
    refuse_input_overwrite(job.out, tuple(p for p in (job.model, job.class_names) if p))
    prepare_out_dir(job.out.parent)
    save_bundle(loaded.model, job.out, class_names=names, source_sha256=loaded.source_sha256,
                produced_by="hardener import")
    return {"out": str(job.out), "arch": loaded.arch, "variant": loaded.variant, "classes": loaded.num_classes,
            "input_spec": loaded.model.spec.describe(), "spec_declared": loaded.model.spec.declared,
            "class_names": bool(names), "warnings": list(loaded.warnings)}
