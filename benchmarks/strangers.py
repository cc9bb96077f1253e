"""Strangers named as a protected person: the share of random faces of each GAN that each model calls each class.

    python benchmarks/strangers.py MODEL [MODEL ...] --gan GAN [--gan GAN ...] --classes 0 1 [--faces 512]

A hardened model whose protected class takes many random faces would name strangers as that person in a face
service; held-out accuracy on the private people does not show it (docs/MEASUREMENTS.md, "Session 37"). The
faces are the ones `protect` reports on (`strangers_named`): N(0, 1) latents from a fixed seed, so every model
meets the same faces. Prints one markdown row per model and GAN.
"""
from __future__ import annotations

import argparse
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("models", nargs="+", type=Path)
    parser.add_argument("--gan", action="append", type=Path, required=True, help="repeatable")
    parser.add_argument("--classes", nargs="+", type=int, required=True)
    parser.add_argument("--faces", type=int, default=None, help="random faces per GAN (default: protect's 512)")
    args = parser.parse_args()

    from hardener.defenses.strangers import STRANGERS, named_shares, stranger_faces
    from hardener.gan import load_gan
    from hardener.loading import load_model

    gans = {path: load_gan(path) for path in args.gan}
    faces = {path: stranger_faces(g.generator, g.latent_dim, count=args.faces or STRANGERS) for path, g in gans.items()}
    print("| model | GAN | " + " | ".join(f"class {c}" for c in args.classes) + " |")
    print("|---|---|" + "---|" * len(args.classes))
    for path in args.models:
        model = load_model(path).model
        for gan_path, images in faces.items():
            shares = named_shares(model, images, args.classes)
            print(f"| {path} | {gan_path.name} | " + " | ".join(f"{100 * shares[c]:.1f} %" for c in args.classes) + " |")


if __name__ == "__main__":
    main()
