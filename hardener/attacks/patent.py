"""The patent's own inversion (CN115719085A): L_discr = -log D(G(z)) plus lambda * CE, 100 steps at lr 1e-3."""
from hardener.attacks.base import Attack
from hardener.attacks.engine import InversionConfig

attack = Attack("patent", "Patent embodiment: 100 Adam steps (lr 1e-3), CE, -log D prior, 5 restarts",
                InversionConfig(steps=100, lr=1e-3, optimizer="adam", lam=100.0, restarts=5,
                                identity_loss="ce", prior="log-sigmoid"))
