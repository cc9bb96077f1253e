"""chance.py NAME=OUT.pt...: session 52. How often does each recogniser name a protected person on images that are
not of him? Two floors for the hits session 51 counted on hardened models:
1. random faces of the attacker's GAN and of protect's GAN (2,000 each, seed 0): per protected class, the share each
   recogniser names that class (top-1; uniform chance over the 79 classes is 1.3 %);
2. the reconstructions of lfw-s51/reconstruct.py's files: per protected class c, the share named c among the rows
   aimed at c (the hits) and among the rows aimed at the other four protected people ("cross": a reconstruction of
   someone else named c), per recogniser.
The recognisers: the evaluation model (read as the judge reads it; nothing here reaches protect), session 51's
FaceNet at seed 1 and ResNet-34, and the original target.
    python benchmarks/results/lfw-s52/chance.py target=.cache/s51/look-target.pt DX3=.cache/s51/look-DX3.pt
"""
import sys
from pathlib import Path

import torch

from hardener.evaluate import logits
from hardener.gan.bundle import load_gan
from hardener.gan.samples import random_faces
from hardener.loading import load_model

B = Path(".cache/benchmarks")
PROTECTED = (6, 18, 27, 31, 67)
JUDGES = {"eval": B / "eval" / "model.safetensors", "facenet1": Path(".cache/s51/facenet1/model.safetensors"),
          "resnet34": Path(".cache/s51/opinion/model.safetensors"), "target": B / "target" / "model.safetensors"}
GANS = {"attacker's GAN": B / "gan-attacker" / "gan.safetensors", "protect's GAN": B / "gan" / "gan.safetensors"}


def named_share(top: torch.Tensor, mask: torch.Tensor, c: int) -> str:
    n = int(mask.sum())
    return f"{100 * float((top[mask] == c).float().mean()):.1f}" if n else "-"


def random_face_floor(judges: dict) -> None:
    print("| GAN | recogniser | " + " | ".join(f"named {c}" for c in PROTECTED) + " | any protected |")
    print("|---" * (len(PROTECTED) + 3) + "|")
    for gan_name, path in GANS.items():
        gan = load_gan(path)
        faces = random_faces(gan.generator, gan.latent_dim, 2000, seed=0).clamp(0, 1)
        for name, model in judges.items():
            top = logits(model, faces, "cpu").argmax(1)
            shares = [f"{100 * float((top == c).float().mean()):.1f} %" for c in PROTECTED]
            anyp = 100 * float(sum((top == c) for c in PROTECTED).float().mean())
            print(f"| {gan_name} | {name} | " + " | ".join(shares) + f" | {anyp:.1f} % |")


def reconstruction_floor(judges: dict, files: list[str]) -> None:
    print("\n| model | recogniser | " + " | ".join(f"{c}: hit / cross" for c in PROTECTED) + " |")
    print("|---" * (len(PROTECTED) + 2) + "|")
    for spec in files:
        label, path = spec.split("=", 1)
        rows = torch.load(path)
        images = torch.cat([r["images"].float() for r in rows.values()])
        targets = torch.cat([r["targets"] for r in rows.values()])
        for name, model in judges.items():
            top = logits(model, images, "cpu").argmax(1)
            cells = [f"{named_share(top, targets == c, c)} / {named_share(top, targets != c, c)}" for c in PROTECTED]
            print(f"| {label} | {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    torch.set_grad_enabled(False)
    loaded = {name: load_model(path).model for name, path in JUDGES.items()}
    random_face_floor(loaded)
    reconstruction_floor(loaded, sys.argv[1:])
