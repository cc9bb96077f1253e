"""Real photos of the decoy identities (`protect --decoy-photos`), as decoys beside protect's GAN inversions.

The decoys the defense lifts into a protected class are, by default, inversions of the public classifier
through protect's own GAN: faces of that GAN's manifold. An attacker inverts with another GAN, and what it
finds is whatever the model scores highest on *its* manifold. Real photos of the decoy person lie on the
manifold of real faces that every attacker's GAN models (TrapNet's realistic decoys). The photos must be of
public identities only, never of the people protected, and never the attacker's data.

Photos are matched to the public classifier's classes by name when both carry names (a photo of a person the
classifier does not know is left out), otherwise their labels are the classifier's class indices.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from hardener.data import FaceDataset, to_model_input
from hardener.errors import InputError


def public_classes(photos: FaceDataset, num_classes: int, names: Sequence[str] | None) -> np.ndarray:
    """Per photo, the public classifier's class it shows (-1: a person the classifier does not know)."""
    if photos.names and names:
        index = {str(name): i for i, name in enumerate(names)}
        classes = np.array([index.get(str(photos.names[label]), -1) for label in photos.labels], dtype=np.int64)
        if not (classes >= 0).any():
            raise InputError("no photo shows a person the public classifier knows (names do not match)",
                             where=photos.source, fix="give photos of the public classifier's identities")
        return classes
    if len(photos.labels) and int(photos.labels.max()) >= num_classes:
        raise InputError(f"photo label {int(photos.labels.max())} is out of range: the public classifier has "
                         f"{num_classes} classes", where=photos.source,
                         fix="label the photos with the public classifier's classes, or store their names")
    return photos.labels.astype(np.int64)


def classes_with_photos(photos: FaceDataset, num_classes: int, names: Sequence[str] | None) -> list[int]:
    """The public classes that have at least one photo: the candidates for automatic decoys."""
    return sorted(int(c) for c in np.unique(public_classes(photos, num_classes, names)) if c >= 0)


def require_photos(photos: FaceDataset, decoys: Sequence[int], num_classes: int,
                   names: Sequence[str] | None) -> None:
    """Stop when a decoy has no photo: it would silently fall back to GAN decoys alone."""
    _require_shown(public_classes(photos, num_classes, names), decoys, photos.source)


def _require_shown(classes: np.ndarray, decoys: Sequence[int], source: str) -> None:
    missing = [d for d in decoys if not (classes == d).any()]
    if missing:
        raise InputError(f"no photo of decoy class {missing[0]}", where=source,
                         fix="add photos of that identity, pick a --decoy that has photos, or leave --decoy out")


def decoy_photo_batch(photos: FaceDataset, decoys: dict[int, int], num_classes: int, names: Sequence[str] | None,
                      limit: int, size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Up to `limit` photos of each decoy (a seeded choice), as model input, labelled with the protected class
    the decoy stands for."""
    classes = public_classes(photos, num_classes, names)
    _require_shown(classes, list(decoys.values()), photos.source)
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for protected, decoy in decoys.items():
        mine = np.flatnonzero(classes == decoy)
        chosen = np.sort(rng.permutation(mine)[:limit])
        rows.append(chosen)
        labels += [protected] * len(chosen)
    rows = np.concatenate(rows)
    return to_model_input(photos.images[rows], size), torch.tensor(labels)
