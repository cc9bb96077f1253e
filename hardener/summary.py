"""A loaded model described as plain data, shared by `info`, reports and `--json`."""
from __future__ import annotations

from typing import Any

from hardener.loading import LoadedModel

PROVENANCE_KEYS = ("produced_by", "created", "hardener_version", "source_sha256")


def model_summary(loaded: LoadedModel) -> dict[str, Any]:
    return {
        "architecture": loaded.arch,
        "variant": loaded.variant,
        "parameters": loaded.parameters,
        "classes": loaded.num_classes,
        "class_names": loaded.class_names,
        "embedding_dim": loaded.model.num_features,
        "input_spec": loaded.spec.describe(),
        "input_spec_declared": loaded.spec.declared,
        "layer_groups": [name for name, _ in loaded.model.layer_groups()],
        "file": str(loaded.source),
        "file_format": loaded.source_format,
        "sha256": loaded.source_sha256,
        "provenance": {k: loaded.metadata[k] for k in PROVENANCE_KEYS if k in loaded.metadata},
        "warnings": loaded.warnings,
    }
