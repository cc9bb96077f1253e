"""Labelled face images from an `.npz` (images, labels, optional names) or an ImageFolder tree.

Images are kept as uint8 NHWC (compact, exact) and converted to float [0, 1] RGB NCHW at the model's
size only when used, since every hardener model normalises inside.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hardener.errors import InputError

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".webp", ".tif", ".tiff"}


@dataclass
class FaceDataset:
    images: np.ndarray  # (N, H, W, 3) uint8 RGB
    labels: np.ndarray  # (N,) int64
    names: list[str] | None
    source: str

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return int(self.labels.max()) + 1 if len(self.labels) else 0


def load_dataset(path: str | Path) -> FaceDataset:
    """Read an `.npz` file or an ImageFolder (one sub-folder per identity, sorted names = labels)."""
    path = Path(path)
    if not path.exists():
        raise InputError("dataset not found", where=str(path), fix="pass an .npz file or an ImageFolder directory")
    dataset = _load_folder(path) if path.is_dir() else _load_npz(path)
    if len(dataset) == 0:
        raise InputError("the dataset holds no images", where=str(path), fix="check the file or folder")
    return dataset


def to_model_input(images: np.ndarray, size: int) -> torch.Tensor:
    """uint8 NHWC RGB -> float [0, 1] NCHW RGB at `size` (antialiased when shrinking)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)
    if x.shape[-2:] != (size, size):
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.clamp_(0.0, 1.0)


def _as_rgb(images: np.ndarray, where: str) -> np.ndarray:
    if images.dtype != np.uint8:
        raise InputError(f"images are {images.dtype}, expected uint8", where=where, fix="store pixels as uint8 0-255")
    if images.ndim == 3:
        images = images[..., None]
    if images.ndim != 4 or images.shape[-1] not in (1, 3, 4):
        raise InputError(f"images have shape {images.shape}, expected (N, H, W) or (N, H, W, C)", where=where,
                         fix="store images as N x H x W x C")
    if images.shape[-1] == 1:
        images = np.repeat(images, 3, axis=-1)
    return images[..., :3]


def _load_npz(path: Path) -> FaceDataset:
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = {"images", "labels"} - set(data.files)
            if missing:
                raise InputError(f"the npz lacks {', '.join(sorted(missing))}", where=str(path),
                                 fix="save arrays named images and labels (names optional)")
            images, labels = data["images"], data["labels"]
            names = [str(n) for n in data["names"]] if "names" in data.files else None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"unreadable npz ({str(exc).splitlines()[0][:120]})", where=str(path),
                         fix="pass an .npz written by numpy.savez without object arrays") from exc
    images = _as_rgb(images, str(path))
    labels = np.asarray(labels).astype(np.int64).reshape(-1)
    if len(labels) != len(images):
        raise InputError(f"{len(images)} images but {len(labels)} labels", where=str(path), fix="give one label per image")
    if len(labels) and labels.min() < 0:
        raise InputError("negative labels", where=str(path), fix="labels must be 0..C-1")
    return FaceDataset(images, labels, names, str(path))


def _load_folder(path: Path) -> FaceDataset:
    from PIL import Image, UnidentifiedImageError

    classes = sorted(d.name for d in path.iterdir() if d.is_dir())
    if not classes:
        raise InputError("the folder has no identity sub-folders", where=str(path),
                         fix="lay it out as DIR/<identity>/<image>.jpg")
    images, labels, size = [], [], None
    for label, name in enumerate(classes):
        for file in sorted((path / name).iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                with Image.open(file) as im:
                    rgb = im.convert("RGB")
            except (UnidentifiedImageError, OSError) as exc:
                raise InputError("unreadable image", where=str(file), fix="remove or replace the file") from exc
            size = size or rgb.size
            if rgb.size != size:
                rgb = rgb.resize(size)
            images.append(np.asarray(rgb, dtype=np.uint8))
            labels.append(label)
    if not images:
        raise InputError("no images found in the identity folders", where=str(path), fix="add .jpg/.png files")
    return FaceDataset(np.stack(images), np.asarray(labels, dtype=np.int64), classes, str(path))
