"""Shared fixtures: small real model files in the layouts users bring (built once per session)."""
from __future__ import annotations

import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

import pytest
import torch
import torchvision


def pytest_configure(config: pytest.Config) -> None:
    """Under pytest-xdist (`-n 2`) every worker is a torch process of its own: one OpenMP thread each, or
    two workers with two threads each on 2 cores spin-wait and run 5-10x slower. Set before any test
    starts, so thread-count-sensitive results (bit-exact resume) compare runs under the same count."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
        torch.set_num_threads(1)


WORLDS = ("mi_world", "protected")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that needs the trained MI world or the hardened model (39 s for both as one worker's setup
    beside the other, session 15) is slow by definition: `-m "not slow"` then builds neither, and new tests
    that use them are marked without asking.

    Files are then ordered for pytest-xdist (`--dist loadfile --no-loadscope-reorder` hands them out in this
    order): first the file that builds the hardened model, so that the longest chain starts at once; then the
    files that need no trained world but have a slow test, which the other worker runs meanwhile instead of
    waiting on the build's lock; then the files that need the world; then the other files that need the hardened
    model; last the files with no slow test, small pieces that even out the two workers' ends (with the hardened
    model's files last, the workers ended about 95 s apart; now 10 s: benchmarks/suite_schedule.py on session
    44's durations)."""
    uses: dict[Path, set[str]] = {}  # file -> the worlds its tests need
    for item in items:
        worlds = set(WORLDS) & set(getattr(item, "fixturenames", ()))
        if worlds:
            item.add_marker(pytest.mark.slow)
        uses.setdefault(item.path, set()).update(worlds)
    builder = next((path for path, worlds in uses.items() if "protected" in worlds), None)
    heavy = {item.path for item in items if item.get_closest_marker("slow")}

    def rank(path: Path) -> int:
        if path == builder:
            return 0
        if "protected" in uses[path]:
            return 3
        return 2 if uses[path] else 1 if path in heavy else 4

    items.sort(key=lambda item: rank(item.path))  # stable: each file keeps its own order


@contextmanager
def single_thread() -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(scope="module")
def one_thread():
    """Tiny networks gain nothing from more threads, and on a busy 2-core machine two OpenMP threads
    spin-wait for seconds per forward; one never does. Modules opt in with `usefixtures("one_thread")`."""
    with single_thread():
        yield


@pytest.fixture(scope="session")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


@pytest.fixture(scope="session")
def tv_resnet18() -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.resnet18(num_classes=7).eval()


@pytest.fixture(scope="session")
def resnet_state_dict_file(files: Path, tv_resnet18: torch.nn.Module) -> Path:
    path = files / "resnet18_state_dict.pt"
    torch.save(tv_resnet18.state_dict(), path)
    return path


def built_once(tmp_path_factory: pytest.TempPathFactory, name: str, build: Callable[[Path], dict]) -> dict:
    """Under pytest-xdist every worker is a session of its own, so a session fixture would be built once per
    worker. Build expensive files once per run instead, in the run's shared temporary root under a file lock:
    the first worker builds, the others wait and read the same paths. Built on one thread, as under xdist, so
    that plain `pytest` builds the same world CI tests (a world trained on two threads differs in its floats)."""
    from filelock import FileLock

    base = tmp_path_factory.getbasetemp()
    root = base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base
    folder, index = root / name, root / f"{name}.json"
    with FileLock(str(root / f"{name}.lock")):
        if index.exists():
            return {key: Path(value) for key, value in json.loads(index.read_text()).items()}
        folder.mkdir(exist_ok=True)
        with single_thread():
            paths = build(folder)
        index.write_text(json.dumps({key: str(value) for key, value in paths.items()}))
        return paths


PROTECT = ["--protect", "1", "--protect", "4"]


def protect_args(world: dict, out: Path, *extra: str) -> list[str]:
    """`hardener protect` on the MI world with the defaults the tests rely on: classes 1 and 4, protect picks
    the decoys."""
    return ["protect", str(world["target"]), "--gan", str(world["gan"]), *PROTECT, "--data", str(world["train"]),
            "--rounds", "3", "--steps-per-round", "60", "--out", str(out), "--json", *extra]


def attack_top1(world: dict, model, preset: str, steps: int, seed: int, restarts: int = 4) -> float:
    """Top-1 by the evaluation model of `preset` on classes 1 and 4 of `model`, with the world's GAN."""
    return attack_scores(world, model, preset, steps, seed, restarts).top1


def attack_scores(world: dict, model, preset: str, steps: int, seed: int, restarts: int = 4):
    """The evaluation model's scores (AttackMetrics) of `preset` on classes 1 and 4 of `model`, with the
    world's GAN."""
    from hardener.attacks.presets import get_attack
    from hardener.audit.metrics import attack_metrics
    from hardener.data import load_dataset
    from hardener.gan import load_gan
    from hardener.loading import load_model

    gan = load_gan(world["gan"])
    result = get_attack(preset).run(gan.generator, gan.critic, model, [1, 4], latent_dim=gan.latent_dim, seed=seed,
                                    steps=steps, restarts=restarts)
    return attack_metrics(result, load_model(world["eval"]).model, load_dataset(world["private"]))


def mean_confidence(metrics) -> float:
    """The evaluation model's confidence in the true identity, averaged over the attacked classes."""
    return sum(c["confidence"] for c in metrics.per_class.values()) / len(metrics.per_class)


def logit_attack_means(world: dict, model) -> tuple[float, float]:
    """test_recipes' measure: lomma-logit (100 steps x 4 restarts) on classes 1 and 4 at attack seeds 606-609,
    top-1 and mean_confidence each averaged over the seeds (one seed's 8 reconstructions swing too much)."""
    scores = [attack_scores(world, model, "lomma-logit", 100, seed=seed, restarts=4) for seed in range(606, 610)]
    return sum(s.top1 for s in scores) / len(scores), sum(mean_confidence(s) for s in scores) / len(scores)


def save_untrained(path: Path) -> Path:
    """A model of the world's shape that learned nothing (seed 5): what an attack recovers from no knowledge."""
    from hardener.loading import save_bundle
    from hardener.registry import build_model

    torch.manual_seed(5)
    return save_bundle(build_model("resnet", WORLD_VARIANT, 8, 32), path)


@pytest.fixture(scope="session")
def protected(mi_world: dict, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The MI world's target hardened by `hardener protect` with the defaults: built once per run, shared by
    every worker (test_protect.py and test_verify_gate.py)."""
    return built_once(tmp_path_factory, "protected", lambda root: _protect(mi_world, root))["out"]


def _protect(world: dict, root: Path) -> dict:
    from typer.testing import CliRunner

    from hardener.cli.app import app

    result = CliRunner().invoke(app, protect_args(world, root / "out"))
    assert result.exit_code == 0, result.output
    return {"out": root / "out"}


WORLD_SCHEDULE = {"epochs": 16, "batch_size": 32}  # how the world's target (seed 0) and evaluation model (seed 1) train
WORLD_VARIANT = "resnet10_w32"  # every model of the world: ResNet-10 at half width


@pytest.fixture(scope="session")
def mi_world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return built_once(tmp_path_factory, "mi_world", _build_mi_world)


def _build_mi_world(root: Path) -> dict:
    """A small model-inversion setting on synthetic faces, trained once per test session (one thread):
    8 private identities (target and evaluation model, both WORLD_VARIANT at 32 px, different seeds) and 8
    other public identities (a 32 px GAN, width 16, with its public classifier), saved as files."""
    from hardener.data import subset
    from hardener.data.splits import save_npz
    from hardener.data.splits import split_by_image
    from hardener.data.synthetic import synthetic_faces
    from hardener.gan import save_gan_bundle, train_gan
    from hardener.registry import build_model
    from hardener.loading import save_bundle
    from hardener.train import TrainConfig, train_classifier

    private = synthetic_faces(8, 30, 32, seed=0)
    public = synthetic_faces(8, 30, 32, seed=0, identity_offset=100)
    train_rows, test_rows = split_by_image(private.labels, 0.2, seed=0)
    train, test = subset(private, train_rows), subset(private, test_rows)
    paths = {"private": save_npz(private, root / "private.npz"), "train": save_npz(train, root / "train.npz"),
             "test": save_npz(test, root / "test.npz")}
    for name, seed in (("target", 0), ("eval", 1)):
        torch.manual_seed(seed)
        model = build_model("resnet", WORLD_VARIANT, 8, 32)
        train_classifier(model, train, val=test, config=TrainConfig(**WORLD_SCHEDULE, seed=seed))
        paths[name] = save_bundle(model, root / f"{name}.safetensors", class_names=private.names)
    torch.manual_seed(2)
    public_model = build_model("resnet", WORLD_VARIANT, 8, 32)
    train_classifier(public_model, public, config=TrainConfig(epochs=12, batch_size=32, seed=2))
    paths["public"] = save_bundle(public_model, root / "public.safetensors", class_names=public.names)
    gan = train_gan(public, image_size=32, epochs=40, batch_size=32, width=16, seed=0)
    paths["gan"] = save_gan_bundle(root / "gan.safetensors", gan.generator, gan.critic, classifier=public_model,
                                   class_names=public.names)
    return paths
