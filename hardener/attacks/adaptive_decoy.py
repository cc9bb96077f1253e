"""A decoy-aware adaptive attacker (as Trap-MID's adaptive attack, NeurIPS 2024, does for trapdoors).

It knows how `protect` works: the hardened model is fine-tuned so that inversions of a protected class
drift to a public face (the decoy), which the public classifier recognises. So it adds to the max-margin
(PLG-MI) objective a penalty mu * relu(log-odds of P's top class), P the public classifier stored in the
GAN bundle: a reconstruction that P names as one public identity with probability above 0.5 costs more, in
proportion to how sure P is, and one P is unsure of costs nothing. Log-odds rather than the softmax itself,
because P is near-certain on most GAN images and the softmax's gradient vanishes there. Restarts stay
independent draws (one seed per class and restart), so they stay diverse and the penalty never couples rows.

`escape_rate` is its report: the fraction of reconstructions that P does NOT assign to any public class with
confidence above 0.5 (a reconstruction that escaped the lure). It applies to any attack's output, so verify
reports it for every attack when the GAN bundle has a public classifier.

Adaptive variants for the defenses added later: `adaptive-trapdoor` (attacks/adaptive_trapdoor.py) for trap-mid,
which plants triggers; `plg-gan-adaptive` (attacks/plg_gan_adaptive.py) puts this penalty in plg-gan's search. The
regularisers (negls, mid, bido, random-erasing, dp-sgd, tl-dmi) plant nothing for an attacker to avoid, so the
strongest plain attacks of the suite are their adaptive ones.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from hardener.attacks.base import Attack
from hardener.device import evaluating
from hardener.errors import InputError
from hardener.attacks.engine import InversionConfig, InversionResult, Penalty

LURE_CONFIDENCE = 0.5  # P at least this sure of one public class = the reconstruction is lured


@dataclass(frozen=True)
class AdaptiveDecoyAttack(Attack):
    mu: float = 30.0  # weight of the penalty (lambda = 100 on the margin); 30 kept more top-1 than 100 in tests

    def penalty(self, public_classifier: nn.Module | None) -> Penalty:
        return lure_penalty(public_classifier, self.mu, self.name)


def lure_penalty(public_classifier: nn.Module | None, mu: float, attack_name: str) -> Penalty:
    """mu * relu(top-class log-odds of the public classifier) per row: the decoy-aware attackers' penalty."""
    public_classifier = required_public_classifier(public_classifier, attack_name)

    def looks_public(images: torch.Tensor) -> torch.Tensor:
        return mu * torch.relu(top_log_odds(public_classifier(images).float()))

    return looks_public


def required_public_classifier(public_classifier: nn.Module | None, attack_name: str) -> nn.Module:
    """The GAN bundle's public classifier, which the decoy-aware attacks cannot run without."""
    if public_classifier is None:
        raise InputError(f"the {attack_name} attack needs the public classifier that the GAN bundle stores",
                         where="--gan", fix="pass a GAN bundle trained by `hardener train gan` on labelled "
                                            "public data, or choose another --preset")
    return public_classifier


def top_log_odds(logits: torch.Tensor) -> torch.Tensor:
    """log(p / (1 - p)) of the most likely class, per row: above 0 exactly when p > 0.5."""
    top = logits.max(1, keepdim=True)
    others = logits.scatter(1, top.indices, float("-inf"))
    return top.values.squeeze(1) - others.logsumexp(1)


def lured(public_classifier: nn.Module, images: torch.Tensor, device: torch.device | str = "cpu") -> torch.Tensor:
    """Per image (on the CPU): the public classifier names one public class with confidence above LURE_CONFIDENCE,
    as it does the decoy defense's lures."""
    with evaluating(public_classifier, device):
        return torch.cat([public_classifier(chunk.to(device)).float().softmax(1).max(1).values.cpu()
                          for chunk in images.split(256)]) > LURE_CONFIDENCE


def escape_rate(result: InversionResult, public_classifier: nn.Module, device: torch.device | str = "cpu") -> float:
    """Fraction of reconstructions the public classifier assigns to no public class with confidence above
    LURE_CONFIDENCE: how often the attack escaped the decoy defense's lure."""
    return float((~lured(public_classifier, result.images, device)).float().mean())


attack = AdaptiveDecoyAttack(
    "adaptive-decoy", "Decoy-aware adaptive: PLG-MI protocol (600 Adam steps, lr 0.1, max-margin) plus 30 x the "
                      "public classifier's top-class log-odds above 0 on G(z), 5 independent restarts",
    InversionConfig(steps=600, lr=0.1, optimizer="adam", lam=100.0, restarts=5, identity_loss="margin", prior="critic"),
    needs_public_classifier=True)
