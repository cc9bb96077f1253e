"""Model-inversion attacks: identity losses and priors (`losses`), one preset per file, `presets.get_attack`.

Kept import-free so `hardener.attacks.engine` can use the losses without a cycle.
"""
