"""GMI (Zhang et al., CVPR 2020): cross-entropy identity loss under a WGAN critic prior, SGD."""
from hardener.attacks.base import Attack
from hardener.attacks.engine import InversionConfig

attack = Attack("gmi", "GMI: 1500 SGD steps (lr 0.02, momentum 0.9), lambda 100, CE, critic prior, 5 restarts",
                InversionConfig(steps=1500, lr=0.02, optimizer="sgd", momentum=0.9, lam=100.0, restarts=5,
                                identity_loss="ce", prior="critic"))
