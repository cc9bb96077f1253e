"""The worlds every benchmark runs in, built one way, each with two GANs on disjoint public identities.

`gan` is protect's GAN (the defense's; its bundle carries the public classifier the decoy defense uses);
`attack_gan` is the attacker's: other public identities, another seed, never given to a defense
(../shared/DESIGN.md: "a defense never sees the attacker's GAN"). The attacker's bundle carries the
defender's public classifier, so the decoy-aware adaptive attack knows which public faces the defense lures
to (the defense's design is public; only its GAN, seeds and evaluation model are not).

synthetic: the tests' world (tests/conftest.py, 8 private and 8 public identities, 32 px) plus a GAN on 8
other public identities (synthetic 108-115; protect's GAN saw 100-107), seed 1, the same shape.
lfw: benchmarks/train_models.py's files; its `gan` and `gan-attacker` stages train on the two identity
halves of the public split (by parity).
"""
from __future__ import annotations

import hashlib
import inspect
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ATTACKER_GAN_SEED = 1
ATTACKER_IDENTITY_OFFSET = 108  # protect's GAN: synthetic identities 100-107 (tests/conftest.py)


def synthetic_world(cache: Path) -> dict:
    """The tests' world, built once into `cache` (paths.json), plus the attacker's GAN. The cache remembers
    the source of the tests' world builder: when the tests change their world, the cache is rebuilt, so a
    benchmark never measures a world the tests no longer use."""
    sys.path.insert(0, str(ROOT / "tests"))
    import conftest

    builder = hashlib.sha256((inspect.getsource(conftest._build_mi_world)
                              + json.dumps(conftest.WORLD_SCHEDULE) + conftest.WORLD_VARIANT).encode()).hexdigest()[:16]
    index = cache / "paths.json"
    saved = json.loads(index.read_text()) if index.exists() else {}
    fresh = saved.pop("builder", None) == builder
    if not fresh:
        cache.mkdir(parents=True, exist_ok=True)
        print(f"building the synthetic world (tests/conftest.py) into {cache}", flush=True)
        saved = {k: str(v) for k, v in conftest._build_mi_world(cache).items()}
        index.write_text(json.dumps({**saved, "builder": builder}))
    world = {k: Path(v) for k, v in saved.items()}
    attacker = cache / "attack_gan_disjoint.safetensors"
    if not fresh or not attacker.exists():
        from hardener.data.synthetic import synthetic_faces
        from hardener.gan import save_gan_bundle, train_gan
        from hardener.loading import load_model

        print(f"training the attacker's GAN (public identities {ATTACKER_IDENTITY_OFFSET}+, seed "
              f"{ATTACKER_GAN_SEED})", flush=True)
        public = synthetic_faces(8, 30, 32, seed=0, identity_offset=ATTACKER_IDENTITY_OFFSET)
        gan = train_gan(public, image_size=32, epochs=40, batch_size=32, width=16, seed=ATTACKER_GAN_SEED)
        defender = load_model(world["public"])
        save_gan_bundle(attacker, gan.generator, gan.critic, classifier=defender.model,
                        class_names=defender.class_names)
    return {**world, "attack_gan": attacker, "protect_classes": [1, 4], "cache": cache, "builder": builder}


def lfw_world(cache: Path) -> dict:
    """benchmarks/train_models.py's files; protected: the 5 private identities with the most images."""
    import numpy as np

    splits = cache / "splits" / "private"
    world = {"target": cache / "target" / "model.safetensors", "eval": cache / "eval" / "model.safetensors",
             "public": cache / "public" / "model.safetensors", "gan": cache / "gan" / "gan.safetensors",
             "attack_gan": cache / "gan-attacker" / "gan.safetensors", "train": splits / "train.npz",
             "test": splits / "test.npz", "private": cache / "splits" / "private.npz"}
    missing = [str(p) for p in world.values() if not p.exists()]
    if missing:
        sys.exit(f"missing {', '.join(missing)}: run benchmarks/train_models.py first")
    return {**world, "protect_classes": sorted(ranked_classes(np.load(world["private"])["labels"])[:5]), "cache": cache}


def ranked_classes(labels) -> list[int]:
    """Every class, the ones with the most images first (ties by class index): how the benchmarks pick the
    private identities to protect or attack."""
    import numpy as np

    return [int(c) for c in np.argsort(-np.bincount(labels), kind="stable")]


def interrupted(out: Path) -> bool:
    """Whether `out` holds a job's checkpoint: benchmarks resume only then (`resume=True` with no checkpoint
    is an error, so a first run must pass False)."""
    return any((Path(out) / "checkpoints").glob("*_checkpoint.pt"))


def load_world(name: str, cache: Path | None = None) -> dict:
    """`synthetic` (default cache .cache/benchmarks/mi_world) or `lfw` (default cache .cache/benchmarks)."""
    if name == "synthetic":
        return synthetic_world(cache or ROOT / ".cache" / "benchmarks" / "mi_world")
    return lfw_world(cache or ROOT / ".cache" / "benchmarks")


def config_fields(items: list[str]) -> dict:
    """`name=value` strings as DecoyConfig keyword arguments (numbers and true/false parsed, tuples split on '+')."""
    out = {}
    for item in items:
        name, value = item.split("=", 1)
        if value.lower() in ("true", "false"):
            out[name] = value.lower() == "true"
            continue
        for cast in (int, float):
            try:
                out[name] = cast(value)
                break
            except ValueError:
                continue
        else:
            out[name] = tuple(value.split("+")) if "+" in value else value
    return out
