"""The VAE's file (as hardener.gan.bundle is the GAN's): the weights and what rebuilds the network (sizes,
width), written by `hardener synthesize` and read back by its --vae. The network and its training are
hardener.defenses.vae; it lives here, not there, because defenses hold no file I/O, and not in the house
because it builds a defense's network (imports point down).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import torch

from hardener.defenses.vae import VAE
from hardener.errors import InputError, ModelFormatError
from hardener.files import atomic_output, require_file, sha256_file

VAE_FORMAT = "hardener-vae/1"


@dataclass
class LoadedVAE:
    """A VAE ready to encode and decode (eval mode, CPU), with the file's metadata."""

    vae: VAE
    source: Path
    sha256: str
    epochs: int | None
    seed: int | None
    metadata: dict[str, str] = field(default_factory=dict)

    @property
    def image_size(self) -> int:
        return self.vae.image_size

    @property
    def latent_dim(self) -> int:
        return self.vae.latent_dim


def save_vae(vae: VAE, path: str | Path, *, epochs: int, seed: int, reconstruction: str = "bernoulli",
             produced_by: str = "hardener") -> Path:
    """Write the weights and what rebuilds the network (sizes, width) as one safetensors file, atomically.
    No privacy parameter lives here: one VAE serves every epsilon."""
    from safetensors.torch import save_file

    from hardener import __version__
    from hardener.loading import cpu_tensors

    metadata = {
        "hardener.format": VAE_FORMAT,
        "latent_dim": str(vae.latent_dim),
        "image_size": str(vae.image_size),
        "width": str(vae.width),
        "epochs": str(epochs),
        "seed": str(seed),
        "reconstruction": reconstruction,
        "output_range": "0-1",
        "produced_by": produced_by,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "hardener_version": __version__,
    }
    with atomic_output(path) as tmp:
        save_file(cpu_tensors(vae.state_dict()), str(tmp), metadata=metadata)
    return Path(path)


def load_vae(path: str | Path) -> LoadedVAE:
    """Read a VAE bundle written by `save_vae`; anything else is refused with one ModelFormatError."""
    path = require_file(path, "VAE file")
    where = str(path)
    tensors, metadata = _read_safetensors(path)
    found = metadata.get("hardener.format")
    if found != VAE_FORMAT:
        what = f"a {found} file" if found else "a safetensors file without hardener VAE metadata"
        raise ModelFormatError(f"not a hardener VAE ({what})", where=where,
                               fix="pass the vae.safetensors written by `hardener synthesize`")
    image_size, latent_dim, width = (_int_field(metadata, key, where) for key in ("image_size", "latent_dim", "width"))
    try:
        vae = VAE(image_size, latent_dim, width)
    except InputError as exc:
        raise ModelFormatError(f"the bundle's sizes are unusable ({exc.what})", where=where,
                               fix="re-create the VAE with `hardener synthesize`") from exc
    try:
        vae.load_state_dict(tensors)
    except RuntimeError as exc:
        raise ModelFormatError(f"the weights do not match the bundle's sizes ({str(exc).splitlines()[0][:120]})",
                               where=where, fix="re-create the VAE with `hardener synthesize`") from exc
    return LoadedVAE(vae.eval(), path, sha256_file(path), _optional_int(metadata, "epochs"),
                     _optional_int(metadata, "seed"), metadata)


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """hardener.loading's reader, its refusal reworded as "not a hardener VAE"."""
    from hardener.loading import read_safetensors

    try:
        return read_safetensors(path)
    except ModelFormatError as exc:
        raise ModelFormatError(f"not a hardener VAE ({exc.what})", where=str(path),
                               fix="pass the vae.safetensors written by `hardener synthesize`") from exc


def _int_field(metadata: dict[str, str], key: str, where: str) -> int:
    try:
        return int(metadata[key])
    except (KeyError, ValueError) as exc:
        raise ModelFormatError(f"the VAE bundle's {key} is missing or not a number", where=where,
                               fix="re-create the VAE with `hardener synthesize`") from exc


def _optional_int(metadata: dict[str, str], key: str) -> int | None:
    try:
        return int(metadata[key])
    except (KeyError, ValueError):
        return None
