"""Train the two GANs `hardener demo` ships (hardener/assets), on embedded synthetic public faces.

    python tools/build_demo_gans.py [--role defender|attacker] [--epochs N] [--work DIR]

Each role trains on its own public identities (hardener.gan.packaged: seed, identity offset, 200 identities x 20
faces at 32 px) with the settings there, then writes hardener/assets/<file> with those settings in its metadata,
and docs/demo_gans.png shows each role's training faces and samples.
Training is checkpointed per epoch in --work (default .cache/demo_gans): a rerun resumes, and a larger --epochs
continues a finished run. Both roles side by side, one CPU thread each: about 25 minutes on an idle machine, 58 on a
slow one (docs/MEASUREMENTS.md, "The demo, measured").
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def build(role: str, epochs: int, work: Path) -> Path:
    from hardener.data.splits import save_npz
    from hardener.gan import packaged
    from hardener.gan.bundle import load_gan, save_gan_bundle
    from hardener.jobs.train_gan import GanJob, run_gan_job

    gan = packaged.ROLES[role]
    work = work / role
    work.mkdir(parents=True, exist_ok=True)
    faces = work / "public.npz"
    if not faces.exists():
        save_npz(gan.faces(), faces)
    out = work / "gan"
    report = run_gan_job(GanJob(data=str(faces), out=out, image_size=packaged.IMAGE_SIZE, epochs=epochs,
                                batch_size=packaged.BATCH_SIZE, width=packaged.WIDTH, seed=gan.seed, device="cpu",
                                resume=(out / "checkpoints").exists(), classifier_arch=None, lr=packaged.LR,
                                n_critic=packaged.N_CRITIC, ema_decay=packaged.EMA_DECAY))
    trained = load_gan(out / "gan.safetensors")
    settings = {"role": role, "seed": gan.seed, "identity_offset": gan.identity_offset, "identities": gan.identities,
                "images_per_identity": gan.images_per_identity, "epochs": report["gan"]["epochs"],
                "steps": report["gan"]["steps"], "batch_size": packaged.BATCH_SIZE, "lr": packaged.LR,
                "n_critic": packaged.N_CRITIC, "ema_decay": packaged.EMA_DECAY}
    target = ROOT / "hardener" / "assets" / gan.file
    target.parent.mkdir(exist_ok=True)
    save_gan_bundle(target, trained.generator, trained.critic, produced_by="tools/build_demo_gans.py",
                    extra={"demo_gan": json.dumps(settings, sort_keys=True)})
    print(f"{role}: {report['gan']['epochs']} epochs, {report['gan']['steps']} steps -> {target} "
          f"(samples: {out / 'samples'})")
    return target


def sample_sheet(path: Path) -> Path:
    """One PNG to judge the packaged GANs by eye: per role, a row of its training faces, then two rows of samples
    from seeded noise (the same noise for both roles), drawn twice as large."""
    import numpy as np

    from hardener.data.datasets import to_model_input
    from hardener.gan import packaged
    from hardener.gan.bundle import load_gan
    from hardener.gan.samples import sample_grid
    from hardener.report.images import save_png, tile

    parts = []
    for gan in (packaged.DEFENDER, packaged.ATTACKER):
        parts.append(tile(to_model_input(gan.faces(12, 1).images, packaged.IMAGE_SIZE), columns=12))
        parts.append(sample_grid(load_gan(packaged.packaged_gan_path(gan)).generator, n=24, seed=0, columns=12))
    sheet = np.concatenate(parts)
    return save_png(sheet.repeat(2, axis=0).repeat(2, axis=1), path)


def main() -> None:
    from hardener.gan import packaged

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--role", choices=sorted(packaged.ROLES), action="append")
    parser.add_argument("--epochs", type=int, default=packaged.EPOCHS)
    parser.add_argument("--work", type=Path, default=ROOT / ".cache" / "demo_gans")
    args = parser.parse_args()
    for role in args.role or sorted(packaged.ROLES, reverse=True):  # defender first
        build(role, args.epochs, args.work)
    print(f"samples of both: {sample_sheet(ROOT / 'docs' / 'demo_gans.png')}")


if __name__ == "__main__":
    main()
