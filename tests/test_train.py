"""Classifier training: learns, checkpoints every epoch, and --resume replays to the same weights."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from cli_helpers import assert_bad_input
from hardener.cli.app import app
from hardener.checkpoint import Checkpoint
from hardener.data import FaceDataset, load_dataset
from hardener.errors import InputError
from hardener.registry import build_model
from hardener.loading import load_model
from hardener.progress import ProgressEvent
from hardener.train import TrainConfig, train_classifier

runner = CliRunner()
CONFIG = TrainConfig(epochs=3, batch_size=16, lr=1e-3, seed=7)


def noise_faces(n: int = 48, ids: int = 4) -> FaceDataset:
    rng = np.random.default_rng(0)
    return FaceDataset(rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8), np.arange(n) % ids,
                       [f"p{i}" for i in range(ids)], "noise")


def fresh_model(classes: int = 4):
    torch.manual_seed(0)
    return build_model("resnet", "resnet10", classes, 32)


def test_resume_after_a_stop_gives_the_same_weights(tmp_path: Path) -> None:
    data = noise_faces()
    straight = train_classifier(fresh_model(), data, config=CONFIG).model

    def stop_after_first_epoch(event: ProgressEvent) -> None:
        if event.message.startswith("epoch 1/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train_classifier(fresh_model(), data, config=CONFIG, checkpoint=Checkpoint(tmp_path / "c.pt"),
                         progress=stop_after_first_epoch)
    resumed = train_classifier(fresh_model(), data, config=CONFIG, checkpoint=Checkpoint(tmp_path / "c.pt", resume=True))
    assert resumed.resumed_from_epoch == 1 and [r["epoch"] for r in resumed.history] == [1, 2, 3]
    a, b = straight.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_with_other_options_is_refused(tmp_path: Path) -> None:
    data = noise_faces()
    train_classifier(fresh_model(), data, config=TrainConfig(epochs=1, batch_size=16),
                     checkpoint=Checkpoint(tmp_path / "c.pt"))
    with pytest.raises(InputError, match="epochs 1 -> 2"):
        train_classifier(fresh_model(), data, config=TrainConfig(epochs=2, batch_size=16),
                         checkpoint=Checkpoint(tmp_path / "c.pt", resume=True))


def test_resume_without_a_checkpoint_is_refused_not_started_over(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no checkpoint to resume"):
        train_classifier(fresh_model(), noise_faces(), config=CONFIG, checkpoint=Checkpoint(tmp_path / "c.pt", resume=True))


def test_labels_beyond_the_head_are_refused() -> None:
    with pytest.raises(InputError, match="classes"):
        train_classifier(fresh_model(classes=2), noise_faces(ids=4), config=CONFIG)


def test_train_classifier_cli_writes_bundle_report_and_checkpoint(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "d.npz", images=rng.integers(0, 256, (40, 32, 32, 3), dtype=np.uint8),
             labels=np.arange(40) % 4, names=np.array(["a", "b", "c", "d"]))
    out = tmp_path / "run"
    args = ["train", "classifier", str(tmp_path / "d.npz"), "--arch", "resnet", "--image-size", "32",
            "--epochs", "2", "--batch-size", "16", "--out", str(out), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["final"]["epoch"] == 2 and report["data"]["held_out_images"] == 8
    assert (out / "checkpoints" / "classifier_checkpoint.pt").exists()
    loaded = load_model(out / "model.safetensors")
    # the reported held-out accuracy is the saved model's on the rows the seeded split held out
    from hardener.data import subset, to_model_input
    from hardener.data.splits import split_by_image
    from hardener.evaluate import accuracy

    data = load_dataset(tmp_path / "d.npz")
    held_out = subset(data, split_by_image(data.labels, 0.2, seed=0)[1])
    x, y = to_model_input(held_out.images, 32), torch.from_numpy(held_out.labels)
    assert report["final"]["val_acc"] == pytest.approx(accuracy(loaded.model, x, y), abs=1e-6)
    assert loaded.class_names == ["a", "b", "c", "d"] and loaded.spec.image_size == 32
    again = runner.invoke(app, args + ["--resume"])
    assert again.exit_code == 0 and json.loads((out / "report.json").read_text())["resumed_from_epoch"] == 2


def test_a_small_classifier_learns_synthetic_faces_within_seconds() -> None:
    from hardener.data import subset
    from hardener.data.splits import split_by_image

    data = load_dataset("synthetic:ids=8,per=30,size=32,seed=0")
    train_rows, test_rows = split_by_image(data.labels, 0.2, seed=0)
    result = train_classifier(fresh_model(classes=8), subset(data, train_rows), val=subset(data, test_rows),
                              config=TrainConfig(epochs=6, batch_size=32, seed=0))
    chance = 1 / 8
    assert result.final["val_acc"] > 3 * chance, result.history
    assert result.history[0]["loss"] > result.final["loss"]


def test_train_gan_cli_bundles_gan_and_public_classifier(tmp_path: Path) -> None:
    from hardener.gan import load_gan

    out = tmp_path / "gan"
    args = ["train", "gan", "synthetic:ids=4,per=20,size=32", "--image-size", "32", "--width", "8", "--epochs", "2",
            "--batch-size", "16", "--classifier-epochs", "1", "--out", str(out), "--json"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    report = json.loads((out / "report.json").read_text())
    assert report["gan"]["epochs"] == 2 and len(report["gan"]["samples"]) == 2
    gan = load_gan(out / "gan.safetensors")
    assert gan.image_size == 32 and gan.critic is not None
    assert gan.classifier is not None and gan.classifier.num_classes == 4
    assert gan.class_names == [f"synthetic_{i:04d}" for i in range(4)]
    with torch.no_grad():
        images = gan.generator(torch.randn(3, gan.latent_dim))
    assert images.shape == (3, 3, 32, 32) and float(images.min()) >= 0.0 and float(images.max()) <= 1.0


def test_train_gan_refuses_other_image_sizes(tmp_path: Path) -> None:
    result = runner.invoke(app, ["train", "gan", "synthetic:ids=3,per=4,size=32", "--image-size", "48",
                                 "--out", str(tmp_path / "g")])
    assert_bad_input(result)
