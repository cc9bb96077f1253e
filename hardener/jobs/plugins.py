"""`hardener plugins`: the registered architectures, their variants and default input specs, and the
third-party plugins that failed to load (with why)."""
from __future__ import annotations


def run_plugins() -> dict:
    from hardener import registry

    rows = [{"name": p.name, "variants": list(p.variants), "input_spec": p.input_spec(p.variants[0]).describe(),
             "description": p.description} for p in registry.all_plugins()]
    return {"plugins": rows, "failed": registry.failures()}
