"""GAN package: GMI layout, published checkpoint files, our bundle, WGAN-GP training and resume."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from hardener.data.datasets import FaceDataset, to_model_input
from hardener.errors import InputError, ModelFormatError, PickleRefusedError
from hardener.checkpoint import Checkpoint
from hardener.gan import Critic, Generator, check_gan_matches, load_gan, sample_grid, save_gan_bundle, train_gan
from hardener.report.images import save_png, tile
from hardener.registry import build_model

# The published GMI face GAN (64 px, dim 64, z 100): every key and shape, written out by hand.
PUBLISHED_GENERATOR = {
    "l1.0.weight": (8192, 100),
    "l1.1.weight": (8192,), "l1.1.bias": (8192,), "l1.1.running_mean": (8192,), "l1.1.running_var": (8192,),
    "l1.1.num_batches_tracked": (),
    "l2_5.0.0.weight": (512, 256, 5, 5),
    "l2_5.0.1.weight": (256,), "l2_5.0.1.bias": (256,), "l2_5.0.1.running_mean": (256,),
    "l2_5.0.1.running_var": (256,), "l2_5.0.1.num_batches_tracked": (),
    "l2_5.1.0.weight": (256, 128, 5, 5),
    "l2_5.1.1.weight": (128,), "l2_5.1.1.bias": (128,), "l2_5.1.1.running_mean": (128,),
    "l2_5.1.1.running_var": (128,), "l2_5.1.1.num_batches_tracked": (),
    "l2_5.2.0.weight": (128, 64, 5, 5),
    "l2_5.2.1.weight": (64,), "l2_5.2.1.bias": (64,), "l2_5.2.1.running_mean": (64,),
    "l2_5.2.1.running_var": (64,), "l2_5.2.1.num_batches_tracked": (),
    "l2_5.3.weight": (64, 3, 5, 5), "l2_5.3.bias": (3,),
}
PUBLISHED_CRITIC = {
    "ls.0.weight": (64, 3, 5, 5), "ls.0.bias": (64,),
    "ls.2.0.weight": (128, 64, 5, 5), "ls.2.0.bias": (128,), "ls.2.1.weight": (128,), "ls.2.1.bias": (128,),
    "ls.3.0.weight": (256, 128, 5, 5), "ls.3.0.bias": (256,), "ls.3.1.weight": (256,), "ls.3.1.bias": (256,),
    "ls.4.0.weight": (512, 256, 5, 5), "ls.4.0.bias": (512,), "ls.4.1.weight": (512,), "ls.4.1.bias": (512,),
    "ls.5.weight": (1, 512, 4, 4), "ls.5.bias": (1,),
}


pytestmark = pytest.mark.usefixtures("one_thread")


def blobs(count: int, size: int, seed: int) -> np.ndarray:
    """Smooth 'face-like' images: one soft coloured blob on a dark background, uint8 NHWC."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    out = []
    for _ in range(count):
        cx, cy = rng.uniform(0.3, 0.7, 2)
        radius = rng.uniform(0.15, 0.3)
        colour = rng.uniform(0.4, 1.0, 3)
        blob = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * radius ** 2))
        out.append((np.clip(0.15 + 0.8 * blob[..., None] * colour, 0, 1) * 255).astype(np.uint8))
    return np.stack(out)


def dataset(count: int = 24, size: int = 32, seed: int = 0) -> FaceDataset:
    return FaceDataset(blobs(count, size, seed), np.zeros(count, dtype=np.int64), None, "blobs")


def trained_bn(generator: Generator, seed: int = 1) -> Generator:
    """Give BatchNorm non-default running statistics, so loading them is actually checked."""
    torch.manual_seed(seed)
    generator.train()
    with torch.no_grad():
        generator(torch.randn(4, generator.latent_dim))
    return generator.eval()


def same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k].cpu(), sb[k].cpu()) for k in sa)


# --- models ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("size", [32, 64])
def test_shapes_and_output_range(size: int) -> None:
    torch.manual_seed(0)
    generator, critic = Generator(size, width=8, latent_dim=20), Critic(size, width=8)
    images = generator.eval()(torch.randn(5, 20) * 10)  # large z pushes the sigmoid to its ends
    assert images.shape == (5, 3, size, size)
    assert images.min() >= 0.0 and images.max() <= 1.0 and images.std() > 0
    assert critic(images).shape == (5,)


def test_published_layout_keys_and_shapes() -> None:
    generator, critic = Generator(64, 64, 100), Critic(64, 64)
    assert {k: tuple(v.shape) for k, v in generator.state_dict().items()} == PUBLISHED_GENERATOR
    assert {k: tuple(v.shape) for k, v in critic.state_dict().items()} == PUBLISHED_CRITIC
    assert isinstance(generator.l2_5[4], torch.nn.Sigmoid)
    assert isinstance(critic.ls[2][1], torch.nn.InstanceNorm2d) and critic.ls[2][1].affine


def test_32px_drops_one_stage() -> None:
    keys = Generator(32, 8).state_dict().keys()
    assert "l2_5.1.0.weight" in keys and "l2_5.2.0.weight" not in keys and "l2_5.2.weight" in keys
    assert Critic(32, 8).ls[4].weight.shape == (1, 32, 4, 4)
    with pytest.raises(InputError, match="48"):
        Generator(48, 8)


# --- published GMI checkpoints ------------------------------------------------------------------

def test_published_gmi_files_load(tmp_path: Path) -> None:
    torch.manual_seed(0)
    generator, critic = trained_bn(Generator(64, 64, 100)), Critic(64, 64).eval()
    g_file, d_file = tmp_path / "celeba_G.tar", tmp_path / "celeba_D.tar"
    # As GMI saves them: a DataParallel state_dict under 'state_dict' (the G file in the legacy format).
    torch.save({"state_dict": torch.nn.DataParallel(generator).state_dict()}, g_file,
               _use_new_zipfile_serialization=False)
    torch.save({"state_dict": torch.nn.DataParallel(critic).state_dict()}, d_file)
    assert next(iter(torch.load(g_file, weights_only=True)["state_dict"])).startswith("module.")

    gan = load_gan(g_file, critic_path=d_file)
    assert (gan.image_size, gan.width, gan.latent_dim, gan.output_range) == (64, 64, 100, "0-1")
    assert gan.warnings == [] and gan.classifier is None and len(gan.sha256) == 64
    z = torch.randn(3, 100)
    with torch.no_grad():
        assert torch.equal(gan.generator(z), generator(z))
        images = generator(z)
        assert torch.equal(gan.critic(images), critic(images))
    assert same_weights(gan.generator, generator) and same_weights(gan.critic, critic)


def test_single_file_with_both_and_generator_alone(tmp_path: Path) -> None:
    torch.manual_seed(0)
    generator, critic = trained_bn(Generator(32, 8, 16)), Critic(32, 8)
    both = tmp_path / "both.pt"
    torch.save({"G": generator.state_dict(), "D": torch.nn.DataParallel(critic).state_dict()}, both)
    gan = load_gan(both)
    assert same_weights(gan.generator, generator) and same_weights(gan.critic, critic)
    assert (gan.image_size, gan.width, gan.latent_dim) == (32, 8, 16)

    named = tmp_path / "named.pt"
    torch.save({"generator": {"state_dict": generator.state_dict()}, "critic": critic.state_dict(), "epoch": 3}, named)
    assert same_weights(load_gan(named).critic, critic)

    alone = tmp_path / "G.pt"
    torch.save(generator.state_dict(), alone)
    gan = load_gan(alone)
    assert gan.critic is None and any("no critic" in w for w in gan.warnings)
    assert same_weights(gan.generator, generator)


# --- our bundle ---------------------------------------------------------------------------------------

def test_bundle_round_trip_with_classifier(tmp_path: Path) -> None:
    torch.manual_seed(0)
    generator, critic = trained_bn(Generator(32, 8)), Critic(32, 8)
    classifier = build_model("resnet", "resnet18", 3, 32).eval()
    path = save_gan_bundle(tmp_path / "gan.safetensors", generator, critic, classifier=classifier,
                           class_names=["ann", "bob", "cy"], extra={"epochs": "7"})
    assert not list(tmp_path.glob(".*tmp*"))  # atomic: no temporary file left behind
    gan = load_gan(path)
    assert same_weights(gan.generator, generator) and same_weights(gan.critic, critic)
    assert same_weights(gan.classifier, classifier)
    assert gan.class_names == ["ann", "bob", "cy"]
    assert gan.metadata["hardener.format"] == "hardener-gan/1" and gan.metadata["layout"] == "gmi"
    assert gan.metadata["epochs"] == "7" and gan.metadata["classifier.arch"] == "resnet"
    x = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(gan.classifier(x), classifier(x))
    check_gan_matches(gan, gan.classifier, "test")

    without = save_gan_bundle(tmp_path / "g_only.safetensors", generator, None)
    loaded = load_gan(without)
    assert loaded.critic is None and loaded.classifier is None and loaded.warnings


def test_bundle_whose_header_starts_like_a_pickle(tmp_path: Path) -> None:
    """A safetensors header length with low byte 0x80 must not be mistaken for a pickle."""
    generator, path = Generator(32, 8), tmp_path / "gan.safetensors"
    size = int.from_bytes(save_gan_bundle(path, generator, None).read_bytes()[:8], "little")
    base = (0x80 - size) % 256
    for pad in range(base + 256 - 24, base + 256 + 24):
        save_gan_bundle(path, generator, None, extra={"pad": "x" * pad})
        if path.read_bytes()[0] == 0x80:
            break
    assert path.read_bytes()[0] == 0x80
    gan = load_gan(path)
    assert gan.metadata["hardener.format"] == "hardener-gan/1" and same_weights(gan.generator, generator)


def test_check_gan_matches_refuses_other_sizes(tmp_path: Path) -> None:
    gan = load_gan(save_gan_bundle(tmp_path / "gan.safetensors", Generator(64, 8), Critic(64, 8)))
    model = build_model("resnet", "resnet18", 3, 32)
    with pytest.raises(InputError, match="64 px.*32 px") as info:
        check_gan_matches(gan, model, "--gan")
    assert info.value.where == "--gan" and "--image-size 32" in info.value.fix
    gan.output_range = "-1-1"
    with pytest.raises(InputError, match="range"):
        check_gan_matches(gan, build_model("resnet", "resnet18", 3, 64), "--gan")


# --- bad files ----------------------------------------------------------------------------------------

def test_bad_files_raise_input_errors(tmp_path: Path) -> None:
    torch.manual_seed(0)
    generator, critic = Generator(32, 8), Critic(32, 8)
    good = save_gan_bundle(tmp_path / "gan.safetensors", generator, critic)
    empty = tmp_path / "empty.pt"
    empty.write_bytes(b"")
    text = tmp_path / "notes.pt"
    text.write_text("just some text, not weights\n")
    truncated = tmp_path / "cut.safetensors"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    pickled = tmp_path / "module.pt"
    torch.save(generator, pickled)  # a whole pickled module, not weights
    cases = [tmp_path / "missing.pt", tmp_path, empty, text, truncated, pickled]
    for case in cases:
        with pytest.raises(InputError):
            load_gan(case)
    with pytest.raises(PickleRefusedError):
        load_gan(pickled)


def test_wrong_layouts_name_the_keys(tmp_path: Path) -> None:
    torch.manual_seed(0)
    sd = Generator(32, 8).state_dict()
    broken = {k: v for k, v in sd.items() if k != "l2_5.1.1.weight"}
    broken["l2_5.1.extra"] = torch.zeros(1)
    path = tmp_path / "broken.pt"
    torch.save(broken, path)
    with pytest.raises(ModelFormatError, match=r"1 missing: l2_5\.1\.1\.weight; 1 unexpected: l2_5\.1\.extra"):
        load_gan(path)

    classifier = tmp_path / "classifier.pt"
    torch.save(build_model("resnet", "resnet18", 3, 32).state_dict(), classifier)
    with pytest.raises(ModelFormatError, match="neither a GMI generator"):
        load_gan(classifier)

    g_file, d_file = tmp_path / "G.pt", tmp_path / "D.pt"
    torch.save({"state_dict": sd}, g_file)
    torch.save({"state_dict": Critic(64, 8).state_dict()}, d_file)
    with pytest.raises(ModelFormatError, match="swapped"):
        load_gan(d_file, critic_path=g_file)
    with pytest.raises(ModelFormatError, match="no generator"):
        load_gan(d_file)
    with pytest.raises(ModelFormatError, match="critic takes 64 px"):
        load_gan(g_file, critic_path=d_file)


# --- training -----------------------------------------------------------------------------------------

def test_training_teaches_the_critic_real_from_noise() -> None:
    data = FaceDataset(blobs(64, 32, 0), np.zeros(64, dtype=np.int64), None, "blobs")
    real = to_model_input(blobs(32, 32, 1), 32)  # unseen images of the same kind
    noise = torch.rand(32, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    events = []
    result = train_gan(data, image_size=32, epochs=8, batch_size=16, width=8, lr=1e-3, seed=0, progress=events.append)
    assert result.epochs_done == 8 and result.steps == 32 and len(result.history) == 8
    assert {"epoch", "d_loss", "g_loss", "wasserstein", "seconds"} <= set(result.history[-1])
    assert events[-1].completed == events[-1].total == 32 and "epoch 8/8" in events[-1].message
    with torch.no_grad():
        margin = result.critic(real).mean() - result.critic(noise).mean()
    assert margin > 0.1, f"critic does not prefer real images over noise (margin {margin:.3f})"


def test_resume_gives_the_same_weights_as_an_uninterrupted_run(tmp_path: Path) -> None:
    data = dataset(24, 32)
    options = dict(image_size=32, batch_size=8, width=8, latent_dim=16, n_critic=2, seed=3)
    grids = []

    def sample(epoch: int, generator: Generator) -> None:  # as the CLI does; must not disturb training
        grids.append(sample_grid(generator, 4, seed=0))

    full = train_gan(data, epochs=2, checkpoint=Checkpoint(tmp_path / "a.pt"), on_epoch_end=sample, **options)
    first = train_gan(data, epochs=1, checkpoint=Checkpoint(tmp_path / "b.pt"), **options)
    resumed = train_gan(data, epochs=2, checkpoint=Checkpoint(tmp_path / "b.pt", resume=True), **options)
    assert len(grids) == 2 and grids[0].shape == (2 * 34 + 2, 2 * 34 + 2, 3)
    assert resumed.resumed_from == 1 and resumed.epochs_done == 2 and len(resumed.history) == 2
    assert not same_weights(first.generator, full.generator)  # the second epoch did change them
    assert same_weights(resumed.generator, full.generator) and same_weights(resumed.critic, full.critic)
    state = torch.load(tmp_path / "b.pt", weights_only=True)
    assert state["epoch"] == 2 and isinstance(state["rng"], torch.Tensor)

    other = train_gan(data, epochs=1, **{**options, "seed": 4})
    assert not same_weights(other.generator, first.generator)
    with pytest.raises(InputError, match="other options or inputs .*n_critic 2 -> 5"):
        train_gan(data, epochs=3, checkpoint=Checkpoint(tmp_path / "b.pt", resume=True), **{**options, "n_critic": 5})
    with pytest.raises(InputError, match="data changed"):
        train_gan(dataset(24, 32, seed=9), epochs=3, checkpoint=Checkpoint(tmp_path / "b.pt", resume=True), **options)
    with pytest.raises(InputError, match="no checkpoint"):
        train_gan(data, epochs=1, checkpoint=Checkpoint(tmp_path / "c.pt", resume=True), **options)


def test_the_moving_average_is_released_and_resumes_exactly(tmp_path: Path) -> None:
    """With ema_decay the generator that comes out averages the trained one's weights over its steps: near 1 it
    stays at the initial weights, and a resumed run restores the average with everything else."""
    data = dataset(24, 32)
    options = dict(image_size=32, batch_size=8, width=8, latent_dim=16, n_critic=1, seed=3)
    plain = train_gan(data, epochs=2, **options)
    frozen = train_gan(data, epochs=2, ema_decay=1 - 1e-9, **options)
    with torch.random.fork_rng(devices=[]):  # train_gan's own initial weights, without touching the global stream
        torch.manual_seed(3)
        initial = Generator(32, 8, 16)
    assert not same_weights(plain.generator, initial)
    for kept, start in zip(frozen.generator.parameters(), initial.parameters()):
        assert torch.allclose(kept, start, atol=1e-6)
    first_norm = frozen.generator.l1[1]  # BatchNorm statistics: the averaged generator's own, not the trained one's
    with torch.no_grad():
        features = frozen.generator.l1[0](torch.randn(4096, 16, generator=torch.Generator().manual_seed(7)))
    assert abs(float((first_norm.running_var / features.var(0)).mean()) - 1) < 0.03
    assert float((plain.generator.l1[1].running_var / features.var(0)).mean()) > 1.2  # copying them would fail

    full = train_gan(data, epochs=2, ema_decay=0.9, checkpoint=Checkpoint(tmp_path / "a.pt"), **options)
    train_gan(data, epochs=1, ema_decay=0.9, checkpoint=Checkpoint(tmp_path / "b.pt"), **options)
    resumed = train_gan(data, epochs=2, ema_decay=0.9, checkpoint=Checkpoint(tmp_path / "b.pt", resume=True),
                        **options)
    assert same_weights(resumed.generator, full.generator) and not same_weights(full.generator, plain.generator)
    with pytest.raises(InputError, match="ema_decay"):
        train_gan(data, epochs=3, checkpoint=Checkpoint(tmp_path / "b.pt", resume=True), **options)


def test_max_steps_stops_inside_an_epoch() -> None:
    result = train_gan(dataset(24, 32), image_size=32, epochs=5, batch_size=8, width=8, latent_dim=8, max_steps=4)
    assert result.steps == 4 and result.epochs_done == 1 and result.stopped_early and len(result.history) == 1


@pytest.mark.parametrize("bad, match", [
    (dict(data=dataset(1, 32)), "at least 2"),
    (dict(data=FaceDataset(np.zeros((4, 6, 6, 3), np.uint8), np.zeros(4, np.int64), None, "tiny")), "smaller than 8"),
    (dict(image_size=48), "48"),
    (dict(batch_size=1), "batch_size"),
    (dict(device="gpu0"), "device"),
    (dict(ema_decay=1.0), "ema_decay"),
    (dict(ema_decay=0), "ema_decay"),
])
def test_training_refuses_bad_inputs(bad: dict, match: str) -> None:
    options = dict(data=dataset(4, 32), image_size=32, epochs=1, batch_size=2, width=8) | bad
    data = options.pop("data")
    with pytest.raises(InputError, match=match):
        train_gan(data, **options)


# --- sample images --------------------------------------------------------------------------------------

def test_tile_places_every_image_in_reading_order() -> None:
    levels = [20, 60, 100, 140, 180]  # uint8 levels, one per image
    images = (torch.tensor(levels) / 255.0)[:, None, None, None].expand(5, 3, 4, 6).clone()
    grid = tile(images, columns=3, padding=2)
    assert grid.shape == (2 * (4 + 2) + 2, 3 * (6 + 2) + 2, 3)
    for i, level in enumerate(levels):
        top, left = 2 + (i // 3) * 6, 2 + (i % 3) * 8
        assert (grid[top:top + 4, left:left + 6] == level).all()
    assert grid.astype(int).sum() == sum(levels) * 4 * 6 * 3  # black everywhere else, the sixth cell included
    lone = tile(images[:1], padding=3)  # one image keeps its border too
    assert lone.shape == (4 + 6, 6 + 6, 3) and (lone[3:7, 3:9] == 20).all() and lone.astype(int).sum() == 20 * 72


def test_sample_grid_and_png(tmp_path: Path) -> None:
    torch.manual_seed(0)
    generator = Generator(32, 8).train()
    before = {k: v.clone() for k, v in generator.state_dict().items()}
    grid = sample_grid(generator, 6, seed=1)
    assert grid.dtype == np.uint8 and grid.shape == (2 * 34 + 2, 3 * 34 + 2, 3)
    assert generator.training and all(torch.equal(before[k], v) for k, v in generator.state_dict().items())
    assert np.array_equal(grid, sample_grid(generator, 6, seed=1))
    assert not np.array_equal(grid, sample_grid(generator, 6, seed=2))
    path = save_png(grid, tmp_path / "epoch_001.png")
    assert np.array_equal(np.asarray(Image.open(path)), grid)
    with pytest.raises(InputError):
        save_png(grid.astype(np.float32), tmp_path / "bad.png")


def test_a_gan_job_interrupted_before_its_public_classifier_resumes_and_trains_it(tmp_path: Path) -> None:
    """`train gan --resume` after an interruption in the GAN stage: the GAN continues from its checkpoint and
    the public classifier, which never started, trains from scratch (it used to demand its own checkpoint)."""
    from hardener.jobs.checkpoints import CLASSIFIER_CHECKPOINT, checkpoint_file
    from hardener.jobs.train_gan import GanJob, run_gan_job

    job = GanJob(data="synthetic:ids=3,per=6,size=32,seed=0", out=tmp_path / "gan", image_size=32, epochs=1,
                 width=8, classifier_epochs=1)
    run_gan_job(job)
    classifier = tmp_path / "gan" / "public_classifier"
    for path in sorted(classifier.rglob("*"), reverse=True):  # as if the run stopped before this stage
        path.unlink() if path.is_file() else path.rmdir()
    classifier.rmdir()
    report = run_gan_job(GanJob(**{**job.__dict__, "resume": True}))
    assert report["gan"]["epochs"] == 1 and checkpoint_file(classifier, CLASSIFIER_CHECKPOINT).exists()
    assert report["public_classifier"]["classes"] == 3 and (classifier / "model.safetensors").exists()
