"""Labelled face images from an `.npz` (images, labels, optional names) or an ImageFolder tree.

Images are kept as uint8 NHWC (compact, exact) and converted to float [0, 1] RGB NCHW at the model's
size only when used, since every hardener model normalises inside.
"""
from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from hardener.errors import InputError
from hardener.files import register_input

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".pgm", ".ppm", ".webp", ".tif", ".tiff"}


@dataclass
class FaceDataset:
    images: np.ndarray  # (N, H, W, 3) uint8 RGB
    labels: np.ndarray  # (N,) int64
    names: list[str] | None
    source: str
    skipped: list[str] = field(default_factory=list)  # unreadable files left out (--skip-bad-images)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return int(self.labels.max()) + 1 if len(self.labels) else 0


MIN_IMAGE_SIZE = 8


def load_dataset(path: str | Path, *, skip_bad_images: bool = False) -> FaceDataset:
    """Read an `.npz` file, an ImageFolder (one sub-folder per identity, sorted names = labels), or the
    embedded synthetic faces named as `synthetic[:ids=N,per=M,size=S,seed=K]`.
    """
    text = str(path)
    if text == "synthetic" or text.startswith("synthetic:"):
        return _load_synthetic(text)
    path = Path(path)
    if not path.exists():
        raise InputError("dataset not found", where=str(path),
                         fix="pass an .npz file, an ImageFolder directory or synthetic:ids=N,per=M")
    register_input(path)
    dataset = _load_folder(path, skip_bad_images) if path.is_dir() else _load_npz(path)
    if len(dataset) == 0:
        raise InputError("the dataset holds no images", where=str(path), fix="check the file or folder")
    height, width = dataset.images.shape[1:3]
    if min(height, width) < MIN_IMAGE_SIZE:
        raise InputError(f"images are {height}x{width} px, smaller than {MIN_IMAGE_SIZE} px", where=str(path),
                         fix="use face crops of at least 32 px")
    return dataset


def require_identities(data: FaceDataset, minimum: int = 2) -> None:
    """Training a classifier (or splitting by identity) needs at least two identities."""
    present = len(np.unique(data.labels))
    if present < minimum:
        raise InputError(f"the dataset has {present} identit{'y' if present == 1 else 'ies'}, at least {minimum} are needed",
                         where=data.source, fix="add identities (one label or sub-folder each)")


def subset(data: FaceDataset, rows: np.ndarray, *, relabel: bool = False, note: str = "") -> FaceDataset:
    """Rows of a dataset; with `relabel`, labels become 0..K-1 in order of the original labels."""
    images, labels, names = data.images[rows], data.labels[rows], data.names
    if relabel:
        kept = np.unique(labels)
        labels = np.searchsorted(kept, labels).astype(np.int64)
        names = [data.names[k] for k in kept] if data.names else [str(k) for k in kept]
    return FaceDataset(images, labels, names, data.source + (f"[{note}]" if note else ""))


def fingerprint(data: FaceDataset) -> str:
    """Identifies the images (and their labels), so a checkpoint is never resumed on other data."""
    import hashlib

    digest = hashlib.sha256(str(data.images.shape).encode())
    digest.update(np.ascontiguousarray(data.images).data)
    digest.update(np.ascontiguousarray(data.labels).data)
    return digest.hexdigest()


def _load_synthetic(text: str) -> FaceDataset:
    from hardener.data.synthetic import synthetic_faces

    options = {"ids": 20, "per": 30, "size": 64, "seed": 0}
    for part in filter(None, text.partition(":")[2].split(",")):
        key, _, value = part.partition("=")
        if key.strip() not in options or not value.strip().isdigit():
            raise InputError(f"bad synthetic data option {part!r}", where=text,
                             fix="write synthetic:ids=20,per=30,size=64,seed=0")
        options[key.strip()] = int(value)
    return synthetic_faces(options["ids"], options["per"], options["size"], seed=options["seed"])


def to_model_input(images: np.ndarray, size: int) -> torch.Tensor:
    """uint8 NHWC RGB -> float [0, 1] NCHW RGB at `size` (antialiased when shrinking)."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div_(255.0)
    if x.shape[-2:] != (size, size):
        x = torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x.clamp_(0.0, 1.0)


def to_dataset_images(x: torch.Tensor) -> np.ndarray:
    """float [0, 1] NCHW -> uint8 NHWC RGB: the inverse of `to_model_input` at the same size."""
    return (x.detach().clamp(0.0, 1.0) * 255.0).round().to(torch.uint8).permute(0, 2, 3, 1).contiguous().cpu().numpy()


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


MAX_SIDE = 1024  # face crops are 32-224 px; a larger side is a photo to crop first, or a hostile file
MAX_IMAGES = 5_000_000
MAX_BYTES = 8 * 2**30  # uint8 pixels held in memory at once
MAX_FILE_PIXELS = 4096 * 4096  # an image file larger than this is refused before it is decoded


def _npz_shape(path: Path, key: str) -> tuple[int, ...] | None:
    """An array's shape read from its .npy header inside the npz, before anything is allocated."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as fh:
            version = np.lib.format.read_magic(fh)
            reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            return tuple(reader(fh)[0])
    except (KeyError, OSError, ValueError, zipfile.BadZipFile, EOFError):
        return None  # np.load below names what is wrong with the file


def _check_image_shape(shape: tuple[int, ...], where: str) -> None:
    if len(shape) < 3:
        return
    pixels = int(np.prod(shape, dtype=np.float64))
    if shape[0] > MAX_IMAGES or max(shape[1:3]) > MAX_SIDE or pixels > MAX_BYTES:
        raise InputError(f"images have shape {shape}, above the limits ({MAX_IMAGES:,} images, {MAX_SIDE} px a side, "
                         f"{MAX_BYTES / 2**30:.0f} GiB in all)", where=where,
                         fix="crop and resize the faces (e.g. to 64x64) first, or use a subset")


def _labels_as_classes(raw: np.ndarray, where: str) -> np.ndarray:
    """Integer labels, or floats that are whole numbers; anything else would be silently truncated."""
    labels = np.asarray(raw).reshape(-1)
    if labels.dtype.kind in "iub":
        return labels.astype(np.int64)
    if labels.dtype.kind == "f":
        if not np.isfinite(labels).all():
            raise InputError("labels hold NaN or Inf", where=where, fix="labels must be whole numbers 0..C-1")
        if not np.array_equal(labels, np.round(labels)):
            raise InputError("labels are fractional numbers (e.g. 0.7), not class indices", where=where,
                             fix="store integer labels 0..C-1")
        return labels.astype(np.int64)
    raise InputError(f"labels are of type {labels.dtype}, not integers", where=where,
                     fix="store integer labels 0..C-1 and the identities' names under `names`")


def _load_npz(path: Path) -> FaceDataset:
    _check_image_shape(_npz_shape(path, "images") or (), str(path))
    try:
        archive = np.load(path, allow_pickle=False)
        if not isinstance(archive, np.lib.npyio.NpzFile):
            raise InputError("this is a single numpy array (.npy), not an .npz archive", where=str(path),
                             fix="save images and labels together with numpy.savez(path, images=..., labels=...)")
        with archive as data:
            missing = {"images", "labels"} - set(data.files)
            if missing:
                raise InputError(f"the npz lacks {', '.join(sorted(missing))}", where=str(path),
                                 fix="save arrays named images and labels (names optional)")
            images, labels = data["images"], data["labels"]
            names = [str(n) for n in data["names"]] if "names" in data.files else None
    except InputError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise InputError(f"unreadable npz ({str(exc).splitlines()[0][:120]})", where=str(path),
                         fix="pass an .npz written by numpy.savez without object arrays") from exc
    images = _as_rgb(images, str(path))
    labels = _labels_as_classes(labels, str(path))
    if len(labels) != len(images):
        raise InputError(f"{len(images)} images but {len(labels)} labels", where=str(path), fix="give one label per image")
    if len(labels) and labels.min() < 0:
        raise InputError("negative labels", where=str(path), fix="labels must be 0..C-1")
    return FaceDataset(images, labels, names, str(path))


def _read_image(file: Path) -> np.ndarray:
    """One image file as uint8 RGB; a decompression bomb or an oversized photo is refused before decoding."""
    import warnings

    from PIL import Image

    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)  # a refusal below, not a stderr line
        try:
            with Image.open(file) as im:
                if im.width * im.height > MAX_FILE_PIXELS:
                    raise _TooLarge(f"{im.width}x{im.height} px")
                return np.asarray(im.convert("RGB"), dtype=np.uint8)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise _TooLarge(str(exc).split(" pixels")[0]) from None


class _TooLarge(Exception):
    pass


def _load_folder(path: Path, skip_bad_images: bool) -> FaceDataset:
    from PIL import UnidentifiedImageError

    classes = sorted(d.name for d in path.iterdir() if d.is_dir())
    if not classes:
        raise InputError("the folder has no identity sub-folders", where=str(path),
                         fix="lay it out as DIR/<identity>/<image>.jpg")
    images, labels, size, skipped = [], [], None, []
    for label, name in enumerate(classes):
        for file in sorted((path / name).iterdir()):
            if file.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            try:
                rgb = _read_image(file)
            except (UnidentifiedImageError, OSError, _TooLarge) as exc:
                if skip_bad_images:
                    skipped.append(str(file))
                    continue
                if isinstance(exc, _TooLarge):
                    raise InputError(f"image too large ({exc}; limit {MAX_FILE_PIXELS:,} pixels)", where=str(file),
                                     fix="crop the face out first, or pass --skip-bad-images") from None
                raise InputError("unreadable image", where=str(file),
                                 fix="remove or replace the file, or pass --skip-bad-images") from exc
            size = size or rgb.shape[:2]
            if rgb.shape[:2] != size:
                raise InputError(f"image is {rgb.shape[1]}x{rgb.shape[0]} px but the first image is "
                                 f"{size[1]}x{size[0]} px", where=str(file),
                                 fix="crop every face to one size first (resizing would change aspect ratios unseen)")
            images.append(rgb)
            labels.append(label)
    if not images:
        raise InputError("no images found in the identity folders", where=str(path), fix="add .jpg/.png files")
    _check_image_shape((len(images), *size), str(path))
    data = FaceDataset(np.stack(images), np.asarray(labels, dtype=np.int64), classes, str(path))
    data.skipped = skipped
    return data
