"""LOMMA-style (Nguyen et al., CVPR 2023) logit loss on the GMI protocol: does not saturate like CE."""
from hardener.attacks.base import Attack
from hardener.attacks.engine import InversionConfig

attack = Attack("lomma-logit", "LOMMA style: GMI protocol with the logit loss instead of CE",
                InversionConfig(steps=1500, lr=0.02, optimizer="sgd", momentum=0.9, lam=100.0, restarts=5,
                                identity_loss="logit", prior="critic"))
