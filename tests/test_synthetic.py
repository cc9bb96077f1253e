"""The embedded synthetic-face dataset: deterministic, identity-stable, valid, and learnable but not trivial."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from hardener.data.datasets import FaceDataset
from hardener.data.synthetic import synthetic_faces
from hardener.errors import InputError


pytestmark = pytest.mark.usefixtures("one_thread")


def _by_identity(data: FaceDataset, num_identities: int, per_identity: int) -> np.ndarray:
    return data.images.reshape(num_identities, per_identity, *data.images.shape[1:])


@pytest.mark.parametrize("size", [32, 64])
def test_shapes_dtypes_labels_names(size: int) -> None:
    data = synthetic_faces(5, 3, image_size=size, seed=4)
    assert isinstance(data, FaceDataset)
    assert data.images.shape == (15, size, size, 3)
    assert data.images.dtype == np.uint8
    assert data.labels.dtype == np.int64
    assert data.labels.tolist() == [k for k in range(5) for _ in range(3)]
    assert data.num_classes == 5 and len(data) == 15
    assert data.names == [f"synthetic_{k:04d}" for k in range(5)]
    assert data.source.startswith("synthetic:seed=4,")
    # Real pictures, not flat fields: a wide range of values in every image.
    spread = data.images.reshape(15, -1).max(1).astype(int) - data.images.reshape(15, -1).min(1)
    assert (spread > 100).all()


def test_extreme_sizes_render() -> None:
    for size in (16, 256):
        data = synthetic_faces(2, 1, image_size=size)
        assert data.images.shape == (2, size, size, 3)
        assert data.images.std() > 20


def test_deterministic_by_seed() -> None:
    first = synthetic_faces(4, 5, image_size=32, seed=7)
    again = synthetic_faces(4, 5, image_size=32, seed=7)
    assert np.array_equal(first.images, again.images)
    assert np.array_equal(first.labels, again.labels)
    assert first.names == again.names and first.source == again.source
    other = synthetic_faces(4, 5, image_size=32, seed=8)
    assert other.source != first.source
    # Every image changes with the seed, not just a few pixels.
    diff = np.abs(first.images.astype(int) - other.images.astype(int)).reshape(20, -1).mean(1)
    assert (diff > 10).all(), diff


def test_identity_stable_across_num_identities_and_offset() -> None:
    small = synthetic_faces(3, 4, image_size=32, seed=2)
    large = synthetic_faces(7, 4, image_size=32, seed=2)
    assert np.array_equal(_by_identity(small, 3, 4), _by_identity(large, 7, 4)[:3])
    shifted = synthetic_faces(2, 4, image_size=32, seed=2, identity_offset=5)
    assert np.array_equal(_by_identity(shifted, 2, 4), _by_identity(large, 7, 4)[5:7])
    assert shifted.names == ["synthetic_0005", "synthetic_0006"]
    assert shifted.labels.tolist() == [0] * 4 + [1] * 4
    assert "ids=5..6" in shifted.source


def test_images_of_one_identity_vary() -> None:
    data = synthetic_faces(3, 6, image_size=32, seed=1)
    grouped = _by_identity(data, 3, 6).astype(int)
    for k in range(3):
        for i in range(1, 6):
            assert np.abs(grouped[k, i] - grouped[k, 0]).mean() > 5


def test_identities_differ_more_than_images_of_one_identity() -> None:
    num, per = 12, 8
    data = synthetic_faces(num, per, image_size=32, seed=3)
    for region, min_ratio in ((np.s_[:, :, :], 1.05), (np.s_[6:26, 8:24, :], 1.2)):
        x = _by_identity(data, num, per)[(slice(None), slice(None)) + region]
        x = x.reshape(num, per, -1).astype(np.float64) / 255.0
        leave_one_out = (x.sum(1, keepdims=True) - x) / (per - 1)
        own = np.linalg.norm(x - leave_one_out, axis=-1).mean()
        means = x.mean(1)
        other = np.mean([np.linalg.norm(x[k] - means[j], axis=-1).mean()
                         for k in range(num) for j in range(num) if j != k])
        assert other / own > min_ratio, (region, own, other)


def test_background_does_not_reveal_identity() -> None:
    num, per, train = 10, 10, 6
    data = synthetic_faces(num, per, image_size=32, seed=5)
    corners = np.concatenate([data.images[:, :4, :4], data.images[:, :4, -4:]], axis=2)
    feats = corners.reshape(num, per, -1).astype(np.float64)
    means = feats[:, :train].mean(1)
    test = feats[:, train:].reshape(-1, feats.shape[-1])
    truth = np.repeat(np.arange(num), per - train)
    predicted = ((test[:, None] - means[None]) ** 2).sum(-1).argmin(1)
    assert (predicted == truth).mean() < 0.35  # chance is 0.1; the face region gets far above this


@pytest.mark.parametrize("kwargs", [
    dict(num_identities=1, images_per_identity=3),
    dict(num_identities=0, images_per_identity=3),
    dict(num_identities=-4, images_per_identity=3),
    dict(num_identities=2.5, images_per_identity=3),
    dict(num_identities="10", images_per_identity=3),
    dict(num_identities=True, images_per_identity=3),
    dict(num_identities=100_001, images_per_identity=1),
    dict(num_identities=3, images_per_identity=0),
    dict(num_identities=3, images_per_identity=None),
    dict(num_identities=3, images_per_identity=10_001),
    dict(num_identities=3, images_per_identity=2, image_size=15),
    dict(num_identities=3, images_per_identity=2, image_size=257),
    dict(num_identities=3, images_per_identity=2, image_size=64.0),
    dict(num_identities=3, images_per_identity=2, seed=-1),
    dict(num_identities=3, images_per_identity=2, identity_offset=-1),
    dict(num_identities=100_000, images_per_identity=10_000, image_size=256),  # terabytes
])
def test_bad_arguments_raise_input_error(kwargs: dict) -> None:
    with pytest.raises(InputError):
        synthetic_faces(**kwargs)


def test_numpy_integers_accepted() -> None:
    data = synthetic_faces(np.int64(2), np.int32(2), image_size=np.int16(16), seed=np.uint8(3))
    assert data.images.shape == (4, 16, 16, 3)


def test_render_speed() -> None:
    synthetic_faces(2, 2, image_size=64)  # warm-up
    start = time.perf_counter()
    synthetic_faces(25, 10, image_size=64, seed=1)
    elapsed = time.perf_counter() - start
    # ~0.2 s on one core; generous so shared CI machines do not flake, tight enough to catch a slow path.
    assert elapsed < 2.5, elapsed


# ----------------------------------------------------------------------------------- learnability

NUM, PER, TRAIN = 10, 30, 20


def _split(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    data = synthetic_faces(NUM, PER, image_size=32, seed=seed)
    x = torch.from_numpy(data.images).permute(0, 3, 1, 2).float() / 255.0
    y = torch.from_numpy(data.labels)
    train = torch.arange(len(y)) % PER < TRAIN
    return x[train], y[train], x[~train], y[~train]


def _fit(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, lr: float) -> None:
    opt = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=1e-4)
    gen = torch.Generator().manual_seed(0)
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(y), generator=gen)
        for i in range(0, len(y), 32):
            batch = order[i:i + 32]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(model(x[batch]), y[batch]).backward()
            opt.step()
    model.eval()


def _accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    with torch.no_grad():
        return (model(x).argmax(1) == y).float().mean().item()


class _Standardised(torch.nn.Module):
    def __init__(self, x: torch.Tensor) -> None:
        super().__init__()
        self.register_buffer("mean", x.mean(0, keepdim=True))
        self.register_buffer("std", x.std(0, keepdim=True) + 1e-3)
        self.linear = torch.nn.Linear(x[0].numel(), NUM)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(((x - self.mean) / self.std).flatten(1))


def test_linear_model_on_raw_pixels_does_not_solve_it() -> None:
    x_train, y_train, x_test, y_test = _split()
    torch.manual_seed(0)
    one_epoch = _Standardised(x_train)
    _fit(one_epoch, x_train, y_train, epochs=1, lr=1e-3)
    torch.manual_seed(0)
    converged = _Standardised(x_train)
    _fit(converged, x_train, y_train, epochs=50, lr=1e-3)
    acc_one, acc_conv = _accuracy(one_epoch, x_test, y_test), _accuracy(converged, x_test, y_test)
    print(f"linear on raw pixels: held-out accuracy {acc_one:.2f} after 1 epoch, {acc_conv:.2f} after 50 "
          f"(train {_accuracy(converged, x_train, y_train):.2f}); chance {1 / NUM:.2f}")
    assert acc_one < 0.8
    assert acc_conv < 0.95
    assert acc_conv > 2 / NUM  # the identity signal is there even for a linear model


def test_small_cnn_learns_identities() -> None:
    x_train, y_train, x_test, y_test = _split()
    torch.manual_seed(0)
    nn = torch.nn
    model = nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.3), nn.Linear(32 * 4 * 4, NUM),
    )
    untrained = _accuracy(model, x_test, y_test)
    _fit(model, x_train, y_train, epochs=25, lr=3e-3)
    accuracy = _accuracy(model, x_test, y_test)
    print(f"small CNN: held-out accuracy {accuracy:.2f} (untrained {untrained:.2f}); chance {1 / NUM:.2f}")
    assert untrained < 0.35  # it needs training
    assert accuracy > 6 / NUM
