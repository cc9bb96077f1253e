"""The two GANs that ship inside the package for `hardener demo`: one protect uses, one the gate's attacker uses.

A user's machine has no face data and no time to train a GAN that makes faces (a 32-px GAN needs thousands of
steps, minutes of CPU), so `tools/build_demo_gans.py` trains both once on embedded synthetic public faces and the
wheel carries the files. They are trained on disjoint public identities with different seeds, so that the demo's
gate attacks with a GAN protect never saw, as the LFW protocol does (docs/MEASUREMENTS.md, "The demo, measured").
Each role also names the public faces it was trained on, so that the demo can train protect's public classifier
on the same people as protect's GAN.
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from hardener.errors import InputError


@dataclass(frozen=True)
class PackagedGan:
    role: str
    file: str  # in hardener/assets
    seed: int  # with identity_offset: the synthetic people of its training set (faces())
    identity_offset: int
    identities: int = 200
    images_per_identity: int = 20

    def faces(self, identities: int | None = None, images_per_identity: int | None = None):
        """The synthetic public faces this GAN was trained on, or the first `identities` of its people with another
        number of photos each (the demo's public classifier): one place that names who the GAN knows."""
        from hardener.data.synthetic import synthetic_faces

        return synthetic_faces(identities or self.identities, images_per_identity or self.images_per_identity,
                               IMAGE_SIZE, seed=self.seed, identity_offset=self.identity_offset)


IMAGE_SIZE = 32
# Trained by tools/build_demo_gans.py with these settings (the file's metadata repeats them).
WIDTH = 16
EPOCHS = 150
BATCH_SIZE = 64
LR = 1e-3
N_CRITIC = 1
EMA_DECAY = 0.999  # the file holds the generator's moving average: without it the faces are speckled

DEFENDER = PackagedGan("defender", "demo_gan_defender.safetensors", seed=0, identity_offset=1000)
ATTACKER = PackagedGan("attacker", "demo_gan_attacker.safetensors", seed=1, identity_offset=2000)
ROLES = {gan.role: gan for gan in (DEFENDER, ATTACKER)}


def packaged_gan_path(gan: PackagedGan) -> Path:
    """The packaged file of `gan`; a clear error when the install lacks it (a wheel built without package data)."""
    path = Path(str(resources.files("hardener") / "assets" / gan.file))
    if not path.is_file():
        raise InputError(f"the demo's {gan.role} GAN is missing from this install", where=str(path),
                         fix="reinstall hardener from its source tree or wheel (the file is package data), or "
                             "rebuild it with `python tools/build_demo_gans.py`")
    return path
