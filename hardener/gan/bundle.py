"""The GAN file hardener writes (one safetensors: generator, critic, optional public classifier) and
`load_gan`, which also reads the community's published GMI checkpoints as they are.
"""
from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Mapping

from hardener import __version__
from hardener.arch import FaceModel
from hardener.errors import InputError, ModelFormatError
from hardener.files import atomic_output, require_file, sha256_file
from hardener.gan.layout import GanParts, build_critic, build_generator, split_parts
from hardener.gan.models import Critic, Generator
from hardener.loading import is_torchscript, read_safetensors, sniff_format, torch_load_checked, cpu_tensors, model_from_metadata, \
    model_metadata

GAN_FORMAT = "hardener-gan/1"
OUTPUT_RANGE = "0-1"
LAYOUT = "gmi"
PARTS = ("generator.", "critic.", "classifier.")
RESERVED = ("hardener.format", "latent_dim", "image_size", "width", "output_range", "layout", "produced_by",
            "created", "hardener_version", "class_names")


@dataclass
class LoadedGAN:
    """A generator ready to sample (eval mode), its critic if the file had one, and where they came from."""

    generator: Generator
    critic: Critic | None
    latent_dim: int
    image_size: int
    output_range: str
    classifier: FaceModel | None
    class_names: list[str] | None
    source: Path
    sha256: str
    width: int = 64
    source_format: str = ""
    critic_source: Path | None = None
    metadata: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def save_gan_bundle(path: str | Path, generator: Generator, critic: Critic | None, *,
                    classifier: FaceModel | None = None, class_names: list[str] | None = None,
                    extra: Mapping[str, str] | None = None, produced_by: str = "hardener") -> Path:
    """Write the GAN (and the public classifier trained on the same data) as one safetensors file, atomically."""
    from safetensors.torch import save_file

    if critic is not None and (critic.image_size, critic.width) != (generator.image_size, generator.width):
        raise InputError(f"the critic is {critic.image_size} px width {critic.width} but the generator is "
                         f"{generator.image_size} px width {generator.width}", where=str(path),
                         fix="save a generator and critic trained together")
    clash = sorted((set(extra or {}) & set(RESERVED)) | {k for k in extra or {} if k.startswith(PARTS)})
    if clash:
        raise InputError(f"extra metadata may not set {', '.join(clash)}", where=str(path), fix="rename those keys")
    tensors = cpu_tensors(generator.state_dict(), "generator.")
    if critic is not None:
        tensors.update(cpu_tensors(critic.state_dict(), "critic."))
    metadata = {str(k): str(v) for k, v in (extra or {}).items()}
    metadata.update({
        "hardener.format": GAN_FORMAT,
        "latent_dim": str(generator.latent_dim),
        "image_size": str(generator.image_size),
        "width": str(generator.width),
        "output_range": OUTPUT_RANGE,
        "layout": LAYOUT,
        "produced_by": produced_by,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "hardener_version": __version__,
    })
    if class_names is not None:
        metadata["class_names"] = json.dumps(list(class_names))
    if classifier is not None:
        tensors.update(cpu_tensors(classifier.state_dict(), "classifier."))
        info = model_metadata(classifier, class_names=class_names, produced_by=produced_by)
        metadata.update({f"classifier.{k}": v for k, v in info.items()})
    with atomic_output(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)
    return Path(path)


def load_gan(path: str | Path, critic_path: str | Path | None = None) -> LoadedGAN:
    """Load our GAN bundle, or published GMI checkpoints (generator file plus optional critic file)."""
    path = require_file(path, "GAN file")
    where = str(path)
    parts, metadata, source_format, classifier_part = _read_parts(path)
    critic_source = require_file(critic_path, "critic file") if critic_path is not None else None
    if critic_source is not None:
        source_format += f"; critic: {_add_critic_file(parts, critic_source)}"
    if parts.generator is None:
        raise ModelFormatError("no generator in this file" + (" (it holds a critic only)" if parts.critic else ""),
                               where=where, fix="pass the generator file (e.g. celeba_G.tar) first and the critic "
                                                "as the critic file")
    generator = build_generator(parts.generator, where)
    critic = build_critic(parts.critic, str(critic_source or path)) if parts.critic is not None else None
    if critic is not None and critic.image_size != generator.image_size:
        raise ModelFormatError(f"the critic takes {critic.image_size} px images but the generator makes "
                               f"{generator.image_size} px", where=str(critic_source or path),
                               fix="pass a generator and critic trained together")
    if metadata:
        _check_metadata(metadata, generator, where)
    warnings = [] if critic is not None else [
        f"{where}: no critic found, so critic-based steps (e.g. the GMI prior loss) are unavailable; "
        "pass the critic file too if you have it"]
    classifier = model_from_metadata(*classifier_part, where) if classifier_part else None
    names = _class_names(metadata, where)
    return LoadedGAN(generator=generator, critic=critic, latent_dim=generator.latent_dim,
                     image_size=generator.image_size, output_range=metadata.get("output_range", OUTPUT_RANGE),
                     classifier=classifier, class_names=names, source=path, sha256=sha256_file(path),
                     width=generator.width, source_format=source_format, critic_source=critic_source,
                     metadata=metadata, warnings=warnings)


def check_gan_matches(gan: LoadedGAN, model: FaceModel, where: str) -> None:
    """Refuse a GAN whose images the model cannot take as they are (size, pixel range)."""
    size = model.spec.image_size
    if gan.image_size != size:
        raise InputError(f"the GAN makes {gan.image_size} px images but the model takes {size} px input",
                         where=where, fix=f"train a GAN at {size} px (--image-size {size}) on the public data, "
                                          f"or use a model with {gan.image_size} px input")
    if gan.output_range != OUTPUT_RANGE:
        raise InputError(f"the GAN's output range is {gan.output_range}, hardener expects {OUTPUT_RANGE}",
                         where=where,
                         fix="use a generator with a sigmoid output (GMI layout), or one trained by hardener")


# --- reading -------------------------------------------------------------------------------------

ClassifierPart = tuple[dict[str, str], dict[str, Any]]


def _read_parts(path: Path) -> tuple[GanParts, dict[str, str], str, ClassifierPart | None]:
    where = str(path)
    kind = "safetensors" if _is_safetensors(path) else sniff_format(path)
    if kind == "safetensors":
        tensors, metadata = read_safetensors(path)
        if metadata.get("hardener.format") == GAN_FORMAT:
            return _bundle_parts(tensors, metadata, where)
        if metadata.get("hardener.format"):
            raise ModelFormatError(f"this is a {metadata['hardener.format']} file, not a GAN", where=where,
                                   fix="pass a GAN bundle (hardener train-gan) or GMI generator/critic files")
        return split_parts(tensors, where), {}, "safetensors", None
    if kind == "zip" and is_torchscript(path):
        raise ModelFormatError("TorchScript GANs are not supported", where=where,
                               fix="save the generator's and critic's state_dicts with torch.save instead")
    obj, _ = torch_load_checked(path, allow_pickle=False)
    parts = split_parts(obj, where)
    return parts, {}, "torch checkpoint" + (f" ({', '.join(parts.notes)})" if parts.notes else ""), None


def _add_critic_file(parts: GanParts, critic_source: Path) -> str:
    """Take the critic from its own file (GMI publishes G and D separately); returns that file's format."""
    extra, _, critic_format, _ = _read_parts(critic_source)
    if extra.critic is None:
        swapped = " but a generator: were the two files swapped?" if extra.generator else ""
        raise ModelFormatError(f"the critic file holds no DGWGAN critic (keys ls.*){swapped}", where=str(critic_source),
                               fix="pass the critic (e.g. celeba_D.tar) as the critic file")
    if parts.critic is not None:
        raise InputError("both the GAN file and the critic file hold a critic", where=str(critic_source),
                         fix="drop the critic file, or pass a generator-only GAN file")
    parts.critic = extra.critic
    return critic_format


def _is_safetensors(path: Path) -> bool:
    """Checked before io's sniffing, which takes a header length whose low byte is 0x80 for a pickle."""
    with open(path, "rb") as fh:
        head = fh.read(9)
    if len(head) < 9 or head[8:9] != b"{":
        return False
    (header_len,) = struct.unpack("<Q", head[:8])
    return 0 < header_len <= path.stat().st_size - 8


def _bundle_parts(tensors: dict, metadata: dict[str, str], where: str
                  ) -> tuple[GanParts, dict[str, str], str, ClassifierPart | None]:
    split: dict[str, dict] = {p: {} for p in PARTS}
    stray = []
    for key, value in tensors.items():
        prefix = next((p for p in PARTS if key.startswith(p)), None)
        if prefix is None:
            stray.append(key)
        else:
            split[prefix][key[len(prefix):]] = value
    if stray:
        raise ModelFormatError(f"unexpected keys in the GAN bundle: {', '.join(stray[:3])}", where=where,
                               fix="re-create the bundle with hardener")
    parts = GanParts(split["generator."] or None, split["critic."] or None)
    classifier = None
    if split["classifier."]:
        info = {k[len("classifier."):]: v for k, v in metadata.items() if k.startswith("classifier.")}
        classifier = (info, split["classifier."])
    return parts, metadata, GAN_FORMAT, classifier


def _check_metadata(metadata: dict[str, str], generator: Generator, where: str) -> None:
    for key, actual in (("image_size", generator.image_size), ("width", generator.width),
                        ("latent_dim", generator.latent_dim)):
        stated = metadata.get(key)
        if stated is not None and stated != str(actual):
            raise ModelFormatError(f"the bundle says {key} {stated} but the weights have {actual}", where=where,
                                   fix="re-create the bundle with hardener")
    if metadata.get("layout", LAYOUT) != LAYOUT:
        raise ModelFormatError(f"unknown GAN layout {metadata['layout']!r}", where=where,
                               fix="upgrade hardener, or re-create the bundle")


def _class_names(metadata: dict[str, str], where: str) -> list[str] | None:
    text = metadata.get("class_names") or metadata.get("classifier.class_names")
    if not text:
        return None
    try:
        names = json.loads(text)
    except ValueError as exc:
        raise ModelFormatError("the bundle's class_names are not valid JSON", where=where,
                               fix="re-create the bundle with hardener") from exc
    if not isinstance(names, list):
        raise ModelFormatError("the bundle's class_names are not a list", where=where,
                               fix="re-create the bundle with hardener")
    return [str(n) for n in names]
