"""PPA-style (Struppek et al., ICML 2022, "Plug & Play Attacks"): the Poincare identity loss on random
augmentations of G(z) at every step (random resized crop, horizontal flip, small rotation), so the latent
must be recognised robustly rather than through one brittle pixel pattern; the final pick per class is the
restart whose target confidence, averaged over 32 fixed random augmentations, is highest.

Differences from the paper, on purpose: PPA optimises StyleGAN's W space without a discriminator term for
70 epochs; hardener's GANs are GMI-style, whose latent space leaves the face manifold without the critic, so
the critic prior stays (as in every preset here) and the length is PLG-MI's 600 Adam steps. The warps are
drawn per row (see attacks/augment.py), so batching does not change a row's result.
"""
from hardener.attacks.base import Attack
from hardener.attacks.engine import InversionConfig

attack = Attack("ppa", "PPA style: 600 Adam steps (lr 0.1), Poincare loss on a random crop/flip/rotation of G(z) "
                       "each step, critic prior, 5 restarts, pick by confidence over 32 augmentations",
                InversionConfig(steps=600, lr=0.1, optimizer="adam", lam=100.0, restarts=5, identity_loss="poincare",
                                prior="critic", augment="ppa", augment_views=1, select="augmented", select_views=32))
