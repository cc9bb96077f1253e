"""Auditing a model: an attack's reconstructions judged by an independent evaluation model, and membership inference.

`metrics` scores reconstructions the way the model-inversion literature does (attack accuracy of an
evaluation model E, k-NN distance to the private images, a Fréchet distance in E's feature space);
`fid` computes the real FID when the user supplies Inception-v3 weights; `mia` (threshold attacks),
`lira` (shadow models) audit membership inference with the ROC
arithmetic of `roc`.

Public names are re-exported lazily, so importing this package stays free of torch.
"""
from __future__ import annotations

from importlib import import_module
from typing import Any

_EXPORTS = {
    "AttackMetrics": "hardener.audit.metrics",
    "attack_metrics": "hardener.audit.metrics",
    "feature_frechet_distance": "hardener.audit.metrics",
    "frechet_distance": "hardener.audit.metrics",
    "inception_fid": "hardener.audit.fid",
    "load_inception": "hardener.audit.fid",
    "mia_auc": "hardener.audit.mia",
}

__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
