"""Attack presets by name; each lives in its own small file behind `Attack`. Also the preset groups
(`strong`, `all`) and the budgets (`quick`, `standard`, `fast`, `paper`) that scale them."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from hardener.attacks.adaptive_decoy import attack as adaptive_decoy
from hardener.attacks.adaptive_trapdoor import attack as adaptive_trapdoor
from hardener.attacks.base import Attack
from hardener.attacks.gmi import attack as gmi
from hardener.attacks.lomma_aug import attack as lomma_aug
from hardener.attacks.lomma_logit import attack as lomma_logit
from hardener.attacks.patent import attack as patent
from hardener.attacks.plg_gan import attack as plg_gan
from hardener.attacks.plg_gan_adaptive import attack as plg_gan_adaptive
from hardener.attacks.plg_margin import attack as plg_margin
from hardener.attacks.ppa import attack as ppa
from hardener.errors import InputError

# Appended, never inserted: verify seeds each preset by its place here (jobs/suite.py), so a new preset must not
# move the others' seeds.
PRESETS: dict[str, Attack] = {a.name: a for a in (gmi, plg_margin, lomma_logit, patent, ppa, adaptive_decoy,
                                                   lomma_aug, plg_gan, adaptive_trapdoor, plg_gan_adaptive)}

# `strong` is verify's default: every attack a reviewer expects, including the one that breaks the decoy
# defense (lomma-logit), an adaptive attacker for each defense that plants something to escape (the decoy
# defense, trap-mid), the GAN that knows the target (plg-gan: at the standard budget it costs less than
# lomma-aug on the synthetic test world, 43 s against 107 s for all 8 classes, README) and that GAN made
# decoy-aware (plg-gan-adaptive, since session 29's rule M). `all` adds the patent's own inversion, which is weak
# as an attack.
GROUPS: dict[str, tuple[str, ...]] = {
    "strong": ("gmi", "plg-margin", "lomma-logit", "ppa", "adaptive-decoy", "adaptive-trapdoor", "lomma-aug",
               "plg-gan", "plg-gan-adaptive"),
    "all": tuple(PRESETS),
}


@dataclass(frozen=True)
class Budget:
    """How much of each preset's published length to run: `steps_fraction` of its steps (at least
    `min_steps`) and of any training it does first (LOMMA's surrogates), and `restarts` per class (None:
    the preset's own)."""

    name: str
    steps_fraction: float
    restarts: int | None
    min_steps: int = 1

    def scale(self, attack: Attack, steps: int | None = None, restarts: int | None = None) -> tuple[int, int]:
        """(steps, restarts) for `attack`; explicit `steps`/`restarts` (--steps, --restarts) win."""
        scaled_steps = max(self.min_steps, round(attack.config.steps * self.steps_fraction))
        return (steps if steps is not None else scaled_steps,
                restarts if restarts is not None else (self.restarts or attack.config.restarts))


BUDGETS: dict[str, Budget] = {b.name: b for b in (
    Budget("quick", 0.02, 1, min_steps=5),  # smoke tests and CI wiring: not a measurement
    Budget("standard", 0.2, 2),  # what 2 CPU cores afford in a release pipeline (README's LFW baseline)
    # standard's steps with each preset's own restarts: 1/5 of paper's latent-steps; on the synthetic world gmi's
    # top-1 matched paper's, and none of best-of-N init, early stop, Adam or a cosine schedule did better
    # (docs/MEASUREMENTS.md, "Fewer latent-steps")
    Budget("fast", 0.2, None),
    Budget("paper", 1.0, None),  # the published lengths (1500 GMI steps x 5 restarts, ...)
)}


def get_attack(name: str) -> Attack:
    if name not in PRESETS:
        raise InputError(f"unknown attack preset {name!r}", fix=f"use one of: {', '.join([*PRESETS, *GROUPS])}")
    return PRESETS[name]


def get_budget(name: str) -> Budget:
    if name not in BUDGETS:
        raise InputError(f"unknown budget {name!r}", where="--budget", fix=f"use one of: {', '.join(BUDGETS)}")
    return BUDGETS[name]


def expand_presets(names: Sequence[str]) -> list[tuple[Attack, bool]]:
    """Presets and groups -> [(attack, named explicitly)], each attack once, in the order given.

    An attack reached only through a group may be skipped (with the reason in the report) when its
    inputs are missing; one named explicitly may not (bad input instead)."""
    chosen: dict[str, bool] = {}
    for name in names:
        if name in GROUPS:
            for member in GROUPS[name]:
                chosen.setdefault(member, False)
        else:
            get_attack(name)
            chosen[name] = True
    if not chosen:
        raise InputError("no attack preset given", where="--preset", fix="e.g. --preset strong")
    return [(PRESETS[name], explicit) for name, explicit in chosen.items()]
