"""Attack presets by name; each lives in its own small file behind `Attack`."""
from __future__ import annotations

from hardener.attacks.base import Attack
from hardener.attacks.gmi import attack as gmi
from hardener.attacks.lomma_logit import attack as lomma_logit
from hardener.attacks.patent import attack as patent
from hardener.attacks.plg_margin import attack as plg_margin
from hardener.errors import InputError

PRESETS: dict[str, Attack] = {a.name: a for a in (gmi, plg_margin, lomma_logit, patent)}


def get_attack(name: str) -> Attack:
    if name not in PRESETS:
        raise InputError(f"unknown attack preset {name!r}", fix=f"use one of: {', '.join(PRESETS)}")
    return PRESETS[name]
