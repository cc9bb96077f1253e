"""VAE-MP: the Laplace mechanism's statistics, the VAE, the synthetic set, and `hardener synthesize`."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from cli_helpers import assert_bad_input, run
from hardener.data import load_dataset, to_model_input
from hardener.data.splits import save_npz
from hardener.data.synthetic import synthetic_faces
from hardener.defenses.vae_mp import SECRET_NOISE_SEED, laplace_noise, synthesize
from hardener.errors import InputError, ModelFormatError
from hardener.checkpoint import Checkpoint
from hardener.defenses.vae import VAE, decode, encode_mean, train_vae
from hardener.jobs.vae_bundle import load_vae, save_vae

# Small enough for ~1 s of training on one thread, long enough to beat the mean image clearly.
TRAIN = {"image_size": 32, "latent_dim": 16, "epochs": 10, "width": 16, "batch_size": 16, "lr": 2e-3, "seed": 0}
CLI_TRAIN = ["--epochs", "10", "--width", "16", "--latent-dim", "16", "--batch-size", "16", "--lr", "2e-3"]


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def faces():
    return synthetic_faces(8, 25, image_size=32, seed=0)


@pytest.fixture(scope="module")
def trained(faces):
    return train_vae(faces, **TRAIN)


@pytest.fixture(scope="module")
def faces_file(faces, tmp_path_factory) -> Path:
    return save_npz(faces, tmp_path_factory.mktemp("vae_mp") / "private.npz")


# --- the mechanism -------------------------------------------------------------------------------

def noise(n: int, d: int, epsilon: float, seed: int = 0) -> torch.Tensor:
    return laplace_noise(n, d, epsilon, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("d, epsilon", [(16, 2.0), (64, 10.0), (3, 0.5)])
def test_noise_radius_is_gamma_d_over_epsilon(d: int, epsilon: float) -> None:
    radius = noise(40_000, d, epsilon).double().norm(dim=1)
    assert radius.mean().item() == pytest.approx(d / epsilon, rel=0.02)
    assert radius.var().item() == pytest.approx(d / epsilon**2, rel=0.05)  # Gamma(d, 1/eps) variance


def test_noise_shrinks_as_epsilon_grows() -> None:
    means = [noise(5_000, 32, eps).norm(dim=1).mean().item() for eps in (0.5, 5.0, 50.0)]
    assert means[0] > means[1] > means[2]
    assert means[0] / means[2] == pytest.approx(100, rel=0.05)


def test_noise_direction_is_uniform() -> None:
    sample = noise(40_000, 8, 1.0).double()
    unit = sample / sample.norm(dim=1, keepdim=True)
    assert unit.mean(0).norm().item() < 0.03  # no preferred direction
    second = unit.T @ unit / len(unit)  # E[u u^T] = I / d on the sphere
    assert torch.allclose(second, torch.eye(8, dtype=torch.float64) / 8, atol=0.01)


def test_noise_is_reproducible_from_the_seed() -> None:
    assert torch.equal(noise(100, 16, 3.0, seed=7), noise(100, 16, 3.0, seed=7))
    assert not torch.equal(noise(100, 16, 3.0, seed=7), noise(100, 16, 3.0, seed=8))
    assert noise(100, 16, 3.0).dtype == torch.float32 and noise(100, 16, 3.0).shape == (100, 16)


@pytest.mark.parametrize("epsilon", [0.0, -1.0, float("inf"), float("nan"), 1e-300, 5e-324])
def test_noise_refuses_bad_epsilon(epsilon: float) -> None:
    with pytest.raises(InputError, match="epsilon"):
        noise(10, 4, epsilon)


def test_noise_is_finite_down_to_the_smallest_allowed_epsilon() -> None:
    from hardener.defenses.vae_mp import MAX_NOISE_RADIUS

    sample = noise(1_000, 64, 64 / MAX_NOISE_RADIUS)
    assert bool(torch.isfinite(sample).all())
    with pytest.raises(InputError, match="--epsilon"):
        noise(10, 64, 64 / MAX_NOISE_RADIUS / 10)


# --- the VAE -------------------------------------------------------------------------------------

def test_vae_reconstructs_better_than_the_mean_image(trained, faces) -> None:
    x = to_model_input(faces.images, 32)
    recon = decode(trained.vae, encode_mean(trained.vae, x))
    assert recon.shape == x.shape and 0 <= recon.min() and recon.max() <= 1
    mse = ((recon - x) ** 2).mean().item()
    constant = ((x - x.mean(0, keepdim=True)) ** 2).mean().item()
    assert mse < 0.75 * constant, (mse, constant)
    assert len(trained.history) == TRAIN["epochs"] and trained.history[-1]["loss"] < trained.history[0]["loss"]


def test_vae_training_is_deterministic(faces) -> None:
    options = {**TRAIN, "epochs": 1}
    a, b = train_vae(faces, **options), train_vae(faces, **options)
    for (name, p), q in zip(a.vae.state_dict().items(), b.vae.state_dict().values()):
        assert torch.equal(p, q), name


def test_vae_training_resumes_to_the_same_weights(faces, tmp_path: Path) -> None:
    """One epoch, then --resume to two == two at once, bit for bit; the resumed run does not train epoch 1
    again (a resume that silently started over would, and would end with the same weights)."""
    options = {**TRAIN, "epochs": 2}
    whole = train_vae(faces, **options, checkpoint=Checkpoint(tmp_path / "whole.pt"))
    train_vae(faces, **{**options, "epochs": 1}, checkpoint=Checkpoint(tmp_path / "split.pt"))
    epochs: set[int] = set()
    resumed = train_vae(faces, **options, checkpoint=Checkpoint(tmp_path / "split.pt", resume=True),
                        progress=lambda e: epochs.add(int(e.metrics.get("epoch", 0))))
    assert epochs == {2} and [row["epoch"] for row in resumed.history] == [1, 2]
    for (name, a), b in zip(whole.vae.state_dict().items(), resumed.vae.state_dict().values()):
        assert torch.equal(a, b), name
    with pytest.raises(InputError, match="other options"):
        train_vae(faces, **{**options, "lr": 1e-3}, checkpoint=Checkpoint(tmp_path / "split.pt", resume=True))
    with pytest.raises(InputError, match="no checkpoint"):
        train_vae(faces, **options, checkpoint=Checkpoint(tmp_path / "none.pt", resume=True))


def test_encode_and_decode_restore_the_vaes_mode_and_device(trained) -> None:
    vae = trained.vae
    x = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        vae.train()
        codes = encode_mean(vae, x, device=device)
        assert vae.training and next(vae.parameters()).device.type == "cpu"
        assert decode(vae, codes, device=device).shape == x.shape
        assert vae.training and next(vae.parameters()).device.type == "cpu"
        vae.eval()
        decode(vae, codes, device=device)
        assert not vae.training
    finally:
        vae.eval()


def test_vae_bundle_round_trip(trained, faces, tmp_path: Path) -> None:
    path = save_vae(trained.vae, tmp_path / "vae.safetensors", epochs=TRAIN["epochs"], seed=0)
    loaded = load_vae(path)
    assert (loaded.image_size, loaded.latent_dim, loaded.vae.width, loaded.epochs) == (32, 16, 16, 10)
    assert "epsilon" not in loaded.metadata
    z = torch.randn(4, 16, generator=torch.Generator().manual_seed(0))
    assert torch.equal(decode(loaded.vae, z), decode(trained.vae, z))


def test_load_vae_refuses_other_files(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    text = tmp_path / "notes.safetensors"
    text.write_text("not a model at all")
    other = tmp_path / "other.safetensors"
    save_file({"w": torch.zeros(2)}, str(other), metadata={"hardener.format": "hardener-gan/1"})
    bare = tmp_path / "bare.safetensors"
    save_file(VAE(32, 4, 4).state_dict(), str(bare))
    for path in (text, other, bare):
        with pytest.raises(ModelFormatError, match="not a hardener VAE"):
            load_vae(path)
    with pytest.raises(InputError, match="not found"):
        load_vae(tmp_path / "missing.safetensors")


# --- the synthetic set ---------------------------------------------------------------------------

def test_larger_epsilon_gives_images_closer_to_the_originals(trained, faces) -> None:
    results = [synthesize(trained.vae, faces, eps, seed=0) for eps in (0.5, 5.0, 500.0)]
    mse = [r.metrics["mse_original_vs_synthetic"] for r in results]
    assert mse[0] > mse[1] > mse[2], mse
    assert mse[2] == pytest.approx(results[2].metrics["reconstruction_mse"], rel=0.05)  # almost no noise
    for r in results:
        assert r.images.shape == faces.images.shape and r.images.dtype == np.uint8


def test_synthesize_does_not_depend_on_batch_size(trained, faces) -> None:
    """The noise is drawn once from the seed, so it is bit-identical whatever the batching. The decoded
    images are not promised bit-exact: CPU kernels may pick another algorithm for another batch shape, so
    the floats differ in the last bits and a pixel may round to the neighbouring uint8 level."""
    a = synthesize(trained.vae, faces, 5.0, seed=3, batch_size=256)
    b = synthesize(trained.vae, faces, 5.0, seed=3, batch_size=37)
    assert torch.equal(a.noise_radius, b.noise_radius)
    assert torch.allclose(a.codes, b.codes, atol=1e-5)
    diff = np.abs(a.images.astype(np.int16) - b.images.astype(np.int16))
    assert diff.max() <= 1, diff.max()


# --- the command ---------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def first_run(faces_file: Path, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("vae_mp_run") / "eps5"
    result = run("synthesize", faces_file, "--epsilon", "5", *CLI_TRAIN, "--noise-seed", "0", "--device", "cpu",
                 "--out", out)
    assert result.exit_code == 0, result.output
    assert "epoch 10/10" in result.output
    # One warning line each: the VAE must stay private; a known noise seed makes the set not private.
    warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 2, result.stderr
    assert "vae.safetensors was trained on the private data" in warnings[0] and "never release" in warnings[0]
    assert "--noise-seed 0" in warnings[1] and "not be treated as private" in warnings[1]
    return out


def test_cli_writes_dataset_vae_report_and_grid(first_run: Path, faces) -> None:
    synthetic = load_dataset(first_run / "synthetic.npz")
    assert np.array_equal(synthetic.labels, faces.labels) and synthetic.names == faces.names
    assert synthetic.images.shape == faces.images.shape
    assert not np.array_equal(synthetic.images, faces.images)
    assert load_vae(first_run / "vae.safetensors").latent_dim == 16
    report = json.loads((first_run / "report.json").read_text())
    assert report["epsilon"] == 5 and report["latent_dim"] == 16 and "Laplace" in report["mechanism"]
    m = report["metrics"]
    assert m["noise_radius"]["expected_mean"] == pytest.approx(16 / 5)
    assert m["noise_radius"]["measured_mean"] == pytest.approx(16 / 5, rel=0.1)
    assert m["reconstruction_mse"] < m["constant_mean_image_mse"]
    assert m["mse_original_vs_synthetic"] > m["reconstruction_mse"]
    assert report["vae"]["trained"] and report["vae"]["epochs"] == 10
    assert report["seeds"] == {"noise": 0, "vae_training": 0} and "torch" in report["versions"]
    assert len(report["warnings"]) == 2 and "never release" in report["warnings"][0]
    assert "--noise-seed 0" in report["warnings"][1]
    from PIL import Image

    with Image.open(first_run / "grid.png") as grid:
        assert grid.size[0] > 9 * 32 and grid.size[1] > 8 * 32  # 8 identities x (3 + 3 + 3) images


def test_cli_reuses_a_vae_without_training(first_run: Path, faces_file: Path, tmp_path: Path) -> None:
    vae = first_run / "vae.safetensors"
    same = run("synthesize", faces_file, "--epsilon", "5", "--vae", vae, "--noise-seed", "0", "--out",
               tmp_path / "same", "--json")
    assert same.exit_code == 0, same.output
    report = json.loads(same.stdout)
    assert report["vae"]["trained"] is False and report["vae"]["path"] == str(vae)
    assert not (tmp_path / "same" / "vae.safetensors").exists()
    # Same VAE, epsilon and noise seed: the very same synthetic images as the run that trained it.
    assert np.array_equal(load_dataset(tmp_path / "same" / "synthetic.npz").images,
                          load_dataset(first_run / "synthetic.npz").images)
    more = run("synthesize", faces_file, "--epsilon", "500", "--vae", vae, "--out", tmp_path / "more", "--json")
    assert more.exit_code == 0, more.output
    assert (json.loads(more.stdout)["metrics"]["mse_original_vs_synthetic"]
            < report["metrics"]["mse_original_vs_synthetic"])


def test_cli_noise_is_secret_by_default(first_run: Path, faces_file: Path, tmp_path: Path, monkeypatch) -> None:
    import secrets

    vae = first_run / "vae.safetensors"
    a = run("synthesize", faces_file, "--epsilon", "5", "--vae", vae, "--out", tmp_path / "a", "--json")
    assert a.exit_code == 0, a.output
    drawn = []

    def known_randbits(k: int) -> int:  # a recognisable "secret", to check it is written nowhere
        drawn.append(k)
        return 918_273_645_546_372_819

    monkeypatch.setattr(secrets, "randbits", known_randbits)
    b = run("synthesize", faces_file, "--epsilon", "5", "--vae", vae, "--out", tmp_path / "b", "--json")
    assert b.exit_code == 0, b.output
    assert drawn == [63]
    assert not np.array_equal(load_dataset(tmp_path / "a" / "synthetic.npz").images,
                              load_dataset(tmp_path / "b" / "synthetic.npz").images)
    for result, out in ((a, tmp_path / "a"), (b, tmp_path / "b")):
        report = json.loads(result.stdout)
        assert report["seeds"]["noise"] == SECRET_NOISE_SEED == "secret, not recorded"
        assert not any("--noise-seed" in w for w in report["warnings"])
        assert "never release" in report["warnings"][0]
        assert "noise-seed" not in result.stderr
    assert "918273645546372819" not in b.output + (tmp_path / "b" / "report.json").read_text()


@pytest.mark.parametrize("value", ["0", "-1", "nan", "inf", "1e-300", "5e-324"])
def test_cli_refuses_bad_epsilon(faces_file: Path, tmp_path: Path, value: str) -> None:
    assert_bad_input(run("synthesize", faces_file, "--epsilon", value, "--out", tmp_path / "o"), "--epsilon")
    assert not (tmp_path / "o").exists()


def test_cli_refuses_bad_options_and_files(first_run: Path, faces_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "o"
    assert_bad_input(run("synthesize", faces_file, "--epsilon", "1", "--epochs", "0", "--out", out), "--epochs")
    assert_bad_input(run("synthesize", faces_file, "--epsilon", "1", "--latent-dim", "0", "--out", out), "--latent-dim")
    for lr in ("0", "-1e-3", "nan", "inf"):
        assert_bad_input(run("synthesize", faces_file, "--epsilon", "1", "--lr", lr, "--out", out), "--lr")
    assert_bad_input(run("synthesize", faces_file, "--epsilon", "1", "--image-size", "48", "--out", out),
                     "--image-size", "32, 64")
    assert_bad_input(run("synthesize", faces_file, "--epsilon", "1", "--noise-seed", str(2 ** 64), "--out", out),
                     "--noise-seed")
    bogus = tmp_path / "bogus.safetensors"
    bogus.write_bytes(b"\x00" * 64)
    assert_bad_input(run("synthesize", faces_file, "--epsilon", "1", "--vae", bogus, "--out", out), "not a hardener VAE")
    vae = first_run / "vae.safetensors"
    assert_bad_input(run("synthesize", faces_file, "--epsilon", "1", "--vae", vae, "--image-size", "64", "--out", out),
                     "--image-size 64 does not match")
    assert_bad_input(run("synthesize", faces_file, "--epsilon", "1e-300", "--vae", vae, "--out", out),
                     "--epsilon", "latent dim 16")
    assert_bad_input(run("synthesize", faces_file, "--epsilon", "1", "--vae", vae, "--resume", "--out", out),
                     "--resume only apply when a VAE is trained")
    assert_bad_input(run("synthesize", faces_file, "--epsilon", "1", "--resume", "--out", out), "no checkpoint")
    assert_bad_input(run("synthesize", tmp_path / "missing.npz", "--epsilon", "1", "--out", out), "dataset not found")
    unreadable = tmp_path / "broken.npz"
    unreadable.write_bytes(b"garbage")
    assert_bad_input(run("synthesize", unreadable, "--epsilon", "1", "--out", out))
    assert not out.exists()


def test_the_released_model_trains_on_the_synthetic_set_and_is_audited_on_real_faces(first_run: Path, faces,
                                                                                    faces_file: Path,
                                                                                    tmp_path: Path) -> None:
    released = tmp_path / "released"
    trained = run("train", "classifier", first_run / "synthetic.npz", "--arch", "resnet", "--variant", "resnet18",
                  "--image-size", "32", "--epochs", "1", "--batch-size", "32", "--val-fraction", "0", "--out", released)
    assert trained.exit_code == 0, trained.output
    from hardener.loading import load_model

    model = load_model(released / "model.safetensors")
    assert model.num_classes == 8 and model.class_names == list(faces.names)
    unseen = save_npz(synthetic_faces(8, 30, image_size=32, seed=0), tmp_path / "unseen.npz")  # same people, new photos
    audit = run("audit-mia", released / "model.safetensors", "--members", faces_file, "--non-members", unseen,
                "--out", tmp_path / "audit")
    assert audit.exit_code == 0, audit.output
    report = json.loads((tmp_path / "audit" / "report.json").read_text())
    # The audit ran on the real faces (the private members, the unseen photos), not on the synthetic set.
    assert report["counts"]["members"] == len(faces) and report["counts"]["non_members"] == 8 * 30
    assert report["attacks"]["loss"]["members"] == len(faces) and report["attacks"]["loss"]["non_members"] == 8 * 30
    assert Path(report["roc"]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
