"""plg-gan made decoy-aware: PLG-MI's conditional generator (attacks/plg_gan.py, trained as plg-gan trains it),
then its max-margin latent search with adaptive-decoy's lure penalty (30 x the public classifier's top-class
log-odds above 0 on each reconstruction).

Why: on LFW plg-gan is the attack the decoy stack holds least, and where it fails, it fails onto the decoys
(93-100 % of some classes' reconstructions land on their decoy), so an attacker who knows protect would search
its conditional generator away from faces the public classifier is sure of, as adaptive-decoy does through the
plain GAN. What it is not: PLG-MI++ (Trap-MID's adaptive attacker) nor a decoy-aware first stage: the
pseudo-labels and the generator's training are plg-gan's, unchanged; only the search knows about lures.
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

    def penalty(self, public_classifier: nn.Module | None) -> Penalty:
        return lure_penalty(public_classifier, self.mu, self.name)


attack = AdaptivePlgGanAttack(
    "plg-gan-adaptive", "plg-gan's conditional generator (trained as plg-gan trains it), then its max-margin search "
                        "plus 30 x the public classifier's top-class log-odds above 0 (adaptive-decoy's lure "
                        "penalty), 5 restarts",
    plg_gan.config, needs_public_classifier=True)
