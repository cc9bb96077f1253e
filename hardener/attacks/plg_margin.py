"""PLG-MI-style (Yuan et al., AAAI 2023) max-margin identity loss, Adam with a large step."""
from hardener.attacks.base import Attack
from hardener.attacks.engine import InversionConfig

attack = Attack("plg-margin", "PLG-MI style: 600 Adam steps (lr 0.1), max-margin loss, critic prior, 5 restarts",
                InversionConfig(steps=600, lr=0.1, optimizer="adam", lam=100.0, restarts=5,
                                identity_loss="margin", prior="critic"))
