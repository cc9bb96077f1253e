"""plg-gan made decoy-aware: PLG-MI's conditional generator (attacks/plg_gan.py) trained on pseudo-labels that
leave out the images the public classifier is sure of (lures), then its max-margin latent search with
adaptive-decoy's lure penalty (30 x the public classifier's top-class log-odds above 0 on each reconstruction).

Why: on LFW plg-gan is the attack the decoy stack holds least, and where it fails, it fails onto the decoys
(93-100 % of some classes' reconstructions land on their decoy), so an attacker who knows protect would search
its conditional generator away from faces the public classifier is sure of, as adaptive-decoy does through the
plain GAN. Until session 29 only the search knew about lures, and its reconstructions still landed on the decoys
(LFW, README "plg-gan made decoy-aware"): the conditional generator learnt them from the pseudo-labels, which the
first stage now leaves out. What it is not: PLG-MI++ (Trap-MID's adaptive attacker); the generator's training
loss is plg-gan's.
"""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from hardener.attacks.adaptive_decoy import lure_penalty
from hardener.attacks.engine import Penalty
from hardener.attacks.plg_gan import PlgGanAttack
from hardener.attacks.plg_gan import attack as plg_gan


@dataclass(frozen=True)
class AdaptivePlgGanAttack(PlgGanAttack):
    mu: float = 30.0  # adaptive-decoy's weight of the penalty, against lambda = 100 on the margin
    drops_lures: bool = True

    def penalty(self, public_classifier: nn.Module | None) -> Penalty:
        return lure_penalty(public_classifier, self.mu, self.name)


attack = AdaptivePlgGanAttack(
    "plg-gan-adaptive", "plg-gan's conditional generator, its pseudo-labels leaving out images the public classifier "
                        "is over 50 % sure of (lures), then its max-margin search plus 30 x the public classifier's "
                        "top-class log-odds above 0 (adaptive-decoy's lure penalty), 5 restarts",
    plg_gan.config, needs_public_classifier=True)
