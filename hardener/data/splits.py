"""Seeded, deterministic splits: by image within each identity (train/test), by identity (private/public)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from hardener.data.datasets import FaceDataset
from hardener.errors import InputError
from hardener.files import atomic_output

IDENTITY_SCHEMES = ("parity", "random")


def split_by_image(labels: np.ndarray, test_fraction: float = 0.2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Per identity, a seeded shuffle; round(n * fraction) images (at least 1 when n >= 2) go to test."""
    if not 0.0 < test_fraction < 1.0:
        raise InputError(f"test fraction {test_fraction} is not between 0 and 1", fix="use e.g. --test-fraction 0.2")
    rng = np.random.default_rng(seed)
    train, test = [], []
    for identity in np.unique(labels):
        rows = np.flatnonzero(labels == identity)
        rows = rows[rng.permutation(len(rows))]
        n_test = min(len(rows) - 1, max(1, round(len(rows) * test_fraction))) if len(rows) >= 2 else 0
        test.append(rows[:n_test])
        train.append(rows[n_test:])
    return np.sort(np.concatenate(train)), np.sort(np.concatenate(test))


def split_by_identity(labels: np.ndarray, scheme: str = "parity", private_fraction: float = 0.5,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Identities into (private, public). `parity`: even labels private, odd public (our benchmark
    protocol); `random`: a seeded draw of `private_fraction` of the identities."""
    identities = np.unique(labels)
    if len(identities) < 2:
        raise InputError(f"{len(identities)} identity cannot be split into private and public",
                         fix="use data with at least two identities")
    if scheme == "parity":
        return identities[identities % 2 == 0], identities[identities % 2 == 1]
    if scheme == "random":
        if not 0.0 < private_fraction < 1.0:
            raise InputError(f"private fraction {private_fraction} is not between 0 and 1", fix="use e.g. 0.5")
        order = np.random.default_rng(seed).permutation(identities)
        cut = min(len(order) - 1, max(1, round(len(order) * private_fraction)))
        return np.sort(order[:cut]), np.sort(order[cut:])
    raise InputError(f"unknown identity split scheme {scheme!r}", fix=f"use one of: {', '.join(IDENTITY_SCHEMES)}")


def rows_of(labels: np.ndarray, identities: np.ndarray) -> np.ndarray:
    return np.flatnonzero(np.isin(labels, identities))


def save_npz(data: FaceDataset, path: Path, **extra: np.ndarray) -> Path:
    """Write a dataset as an npz that `load_dataset` reads back (no pickled objects)."""
    arrays = {"images": data.images, "labels": data.labels, **extra}
    if data.names is not None:
        arrays["names"] = np.asarray(data.names, dtype=str)
    with atomic_output(path) as tmp:
        with open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays)
    return path
