"""project.py HARDENED_DIR [OUT.json]: session 50's diagnostic for the untested idea of stop 63. Project each protected
person's own training photos onto protect's GAN (the latent whose image is nearest the photo in pixels and in the
user's target's features), then run a max-margin attack on the hardened model through protect's GAN from those
latents, and from random latents for comparison. Reports, per start and class, how often the user's target and
(diagnostic only, never fed back to protect) the evaluation model name the endpoint the person.
One thread; from the repository root."""
import json
import sys
from pathlib import Path

import numpy as np
import torch

from hardener.attacks.losses import critic_prior, max_margin
from hardener.data import load_dataset, to_model_input
from hardener.gan.bundle import load_gan
from hardener.loading import load_model

torch.manual_seed(0)
B = Path(".cache/benchmarks")
PROTECT, PER_CLASS, PROJECT_STEPS, ATTACK_STEPS = (6, 18, 27, 31, 67), 8, 300, 120
hardened_dir = Path(sys.argv[1])
gan = load_gan(B / "gan" / "gan.safetensors")
G, D = gan.generator.eval().requires_grad_(False), gan.critic.eval().requires_grad_(False)
target = load_model(B / "target" / "model.safetensors").model.eval().requires_grad_(False)
hardened = load_model(hardened_dir / "hardened.safetensors").model.eval().requires_grad_(False)
judge = load_model(B / "eval" / "model.safetensors").model.eval().requires_grad_(False)
data = load_dataset(B / "splits" / "private" / "train.npz")
rng = np.random.default_rng(0)
rows = np.concatenate([rng.choice(np.flatnonzero(data.labels == c), PER_CLASS, replace=False) for c in PROTECT])
photos = to_model_input(data.images[rows], gan.image_size)
labels = torch.as_tensor(data.labels[rows], dtype=torch.long)


def project(photos: torch.Tensor) -> torch.Tensor:
    """Latents whose images are nearest the photos: pixel MSE plus the target's feature distance, a weak z prior."""
    z = torch.randn(len(photos), gan.latent_dim).requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=0.05)
    wanted = target.forward_features(photos)
    for _ in range(PROJECT_STEPS):
        images = G(z)
        features = (target.forward_features(images) - wanted).pow(2).mean(1)
        loss = ((images - photos) ** 2).flatten(1).mean(1) + 0.1 * features
        loss = loss + 1e-3 * z.pow(2).mean(1)
        optimizer.zero_grad()
        loss.sum().backward()
        optimizer.step()
    with torch.no_grad():
        print(f"projected: pixel MSE {float(((G(z) - photos) ** 2).mean()):.4f}", flush=True)
    return z.detach()


def attack(z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """plg-margin's loss (critic prior + 100 x max margin), Adam lr 0.1, on the hardened model through protect's GAN."""
    z = z.clone().requires_grad_(True)
    optimizer = torch.optim.Adam([z], lr=0.1)
    for _ in range(ATTACK_STEPS):
        images = G(z)
        loss = critic_prior(D(images).view(-1)) + 100 * max_margin(hardened(images), y)
        optimizer.zero_grad()
        loss.sum().backward()
        optimizer.step()
    return G(z).detach()


def named(images: torch.Tensor, y: torch.Tensor) -> dict:
    with torch.no_grad():
        out = {}
        for name, model in (("target", target), ("eval", judge), ("hardened", hardened)):
            hit = model(images).argmax(1) == y
            out[name] = {c: int(hit[y == c].sum()) for c in PROTECT}
        out["hardened_margin"] = float(-max_margin(hardened(images), y).mean())
    return out


result = {"hardened": str(hardened_dir), "per_class": PER_CLASS}
z_photo = project(photos)
with torch.no_grad():
    result["projections"] = named(G(z_photo), labels)
print("projections", result["projections"], flush=True)
result["from_projections"] = named(attack(z_photo, labels), labels)
print("from projections", result["from_projections"], flush=True)
result["from_random"] = named(attack(torch.randn(len(labels), gan.latent_dim), labels), labels)
print("from random", result["from_random"], flush=True)
if len(sys.argv) > 2:
    Path(sys.argv[2]).write_text(json.dumps(result, indent=1))
