"""Reading GAN weights in the layouts people publish: find the generator and critic in a checkpoint,
infer their size from tensor shapes, and load them strictly.

Published GMI files are `{'state_dict': DataParallel(G).state_dict()}` (keys `module.l1.0.weight`,
...), one file per network; others bundle both under `G`/`D` or `generator`/`critic`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping

import torch

from hardener.errors import ModelFormatError
from hardener.gan.models import SEED_SIZE, SUPPORTED_SIZES, Critic, Generator
from hardener.loading import CHECKPOINT_KEYS, is_tensor_dict, load_strict, strip_prefixes

StateDict = dict[str, torch.Tensor]

GENERATOR_NAMES = ("generator", "G", "netG", "gen", "G_state_dict", "generator_state_dict", "state_dict_G")
CRITIC_NAMES = ("critic", "D", "DG", "netD", "discriminator", "dis", "D_state_dict", "critic_state_dict",
                "discriminator_state_dict", "state_dict_D")
# Prefixes a flat state_dict may use to hold both networks in one mapping.
ROLE_PREFIXES = (("generator.", "generator"), ("critic.", "critic"), ("discriminator.", "critic"),
                 ("netG.", "generator"), ("netD.", "critic"), ("G.", "generator"), ("D.", "critic"))
GENERATOR_ROOTS = ("l1", "l2_5")
CRITIC_ROOTS = ("ls",)
GENERATOR_FIX = "pass a GMI-style generator (keys l1.*, l2_5.*), e.g. the published celeba_G.tar"
CRITIC_FIX = "pass a GMI-style DGWGAN critic (keys ls.*), e.g. the published celeba_D.tar"


@dataclass
class GanParts:
    """The networks found in one file, as plain state_dicts (prefixes already stripped)."""

    generator: StateDict | None = None
    critic: StateDict | None = None
    notes: list[str] = field(default_factory=list)  # how they were found, for source_format


def split_parts(obj: Any, where: str) -> GanParts:
    """Find the generator and/or critic weights in whatever a torch or safetensors file held."""
    if not isinstance(obj, Mapping):
        raise ModelFormatError(f"the file holds a {type(obj).__name__}, not GAN weights", where=where,
                               fix="save state_dicts: torch.save({'G': G.state_dict(), 'D': D.state_dict()}, path)")
    parts = GanParts()
    for role, names in (("generator", GENERATOR_NAMES), ("critic", CRITIC_NAMES)):
        for name in names:
            inner = _unwrap(obj.get(name))
            if is_tensor_dict(inner):
                setattr(parts, role, _tensors(inner))
                parts.notes.append(f"{role} from ['{name}']")
                break
    if parts.generator is not None or parts.critic is not None:
        return _stripped(parts)
    inner = _unwrap(obj)
    if inner is not obj and isinstance(inner, Mapping) and not is_tensor_dict(inner):
        return split_parts(inner, where)  # e.g. {'state_dict': {'G': ..., 'D': ...}}
    if not is_tensor_dict(inner):
        keys = ", ".join(map(str, list(obj)[:6])) or "none"
        raise ModelFormatError(f"no GAN weights found (top-level keys: {keys})", where=where,
                               fix="save the generator under 'G' or 'generator' and the critic under 'D' or 'critic'")
    if inner is not obj:
        parts.notes.append("weights from ['state_dict']")
    return _stripped(_split_flat(_tensors(inner), where, parts))


def _unwrap(value: Any) -> Any:
    """{'state_dict': sd} -> sd (the checkpoint wrappers io also accepts)."""
    while isinstance(value, Mapping) and not is_tensor_dict(value):
        inner = next((value[k] for k in CHECKPOINT_KEYS if isinstance(value.get(k), Mapping)), None)
        if inner is None:
            break
        value = inner
    return value


def _tensors(mapping: Mapping) -> StateDict:
    return {str(k): v for k, v in mapping.items() if isinstance(v, torch.Tensor)}


def _split_flat(state_dict: StateDict, where: str, parts: GanParts) -> GanParts:
    generator: StateDict = {}
    critic: StateDict = {}
    stray: list[str] = []
    state_dict, _ = strip_prefixes(state_dict)
    for key, value in state_dict.items():
        role, rest = _role_of(key)
        if role == "generator":
            generator[rest] = value
        elif role == "critic":
            critic[rest] = value
        else:
            stray.append(key)
    if stray:
        raise ModelFormatError(f"{len(stray)} keys belong to neither a GMI generator (l1.*, l2_5.*) nor a critic "
                               f"(ls.*): {_first(stray)}", where=where, fix=GENERATOR_FIX)
    parts.generator = generator or None
    parts.critic = critic or None
    return parts


def _role_of(key: str) -> tuple[str | None, str]:
    for prefix, role in ROLE_PREFIXES:
        if key.startswith(prefix):
            return role, key[len(prefix):]
    root = re.sub(r"^(module\.)+", "", key).split(".", 1)[0]
    if root in GENERATOR_ROOTS:
        return "generator", key
    if root in CRITIC_ROOTS:
        return "critic", key
    return None, key


def _stripped(parts: GanParts) -> GanParts:
    for role in ("generator", "critic"):
        state_dict = getattr(parts, role)
        if state_dict:
            state_dict, prefix = strip_prefixes(state_dict)
            setattr(parts, role, state_dict)
            if prefix:
                parts.notes.append(f"'{prefix}' prefix stripped from the {role}")
    return parts


def _first(keys: list[str], n: int = 3) -> str:
    return ", ".join(keys[:n]) + (" ..." if len(keys) > n else "")


def _size_from_stages(stages: int) -> int:
    return SEED_SIZE * 2 ** (stages + 1)


def infer_generator(state_dict: StateDict, where: str) -> tuple[int, int, int]:
    """(image_size, width, latent_dim) of a GMI generator, from its shapes alone."""
    weight = state_dict.get("l1.0.weight")
    if weight is None or weight.ndim != 2:
        raise ModelFormatError(f"no GMI generator here (l1.0.weight missing; first keys: {_first(list(state_dict))})",
                               where=where, fix=GENERATOR_FIX)
    rows, latent_dim = weight.shape
    cells = 8 * SEED_SIZE * SEED_SIZE
    if rows % cells:
        raise ModelFormatError(f"l1.0.weight has {rows} rows, not a multiple of {cells} (width x 8 x 4 x 4)",
                               where=where, fix=GENERATOR_FIX)
    stages = sum(f"l2_5.{i}.0.weight" in state_dict for i in range(len(state_dict)))
    size = _size_from_stages(stages)
    if size not in SUPPORTED_SIZES:
        raise ModelFormatError(f"the generator has {stages} upsampling blocks ({size} px output); only "
                               f"{' and '.join(map(str, SUPPORTED_SIZES))} px GMI generators are supported",
                               where=where, fix=GENERATOR_FIX)
    return size, rows // cells, int(latent_dim)


def infer_critic(state_dict: StateDict, where: str) -> tuple[int, int]:
    """(image_size, width) of a DGWGAN critic, from its shapes alone."""
    weight = state_dict.get("ls.0.weight")
    if weight is None or weight.ndim != 4:
        raise ModelFormatError(f"no DGWGAN critic here (ls.0.weight missing; first keys: {_first(list(state_dict))})",
                               where=where, fix=CRITIC_FIX)
    stages = sum(f"ls.{i}.0.weight" in state_dict for i in range(2, len(state_dict) + 2))
    size = _size_from_stages(stages)
    if size not in SUPPORTED_SIZES:
        raise ModelFormatError(f"the critic has {stages} downsampling blocks ({size} px input); only "
                               f"{' and '.join(map(str, SUPPORTED_SIZES))} px DGWGAN critics are supported",
                               where=where, fix=CRITIC_FIX)
    return size, int(weight.shape[0])


def build_generator(state_dict: StateDict, where: str) -> Generator:
    size, width, latent_dim = infer_generator(state_dict, where)
    generator = Generator(size, width, latent_dim)
    load_strict(generator, state_dict, what="the GMI generator layout", where=where, fix=GENERATOR_FIX)
    return generator.eval()


def build_critic(state_dict: StateDict, where: str) -> Critic:
    size, width = infer_critic(state_dict, where)
    critic = Critic(size, width)
    load_strict(critic, state_dict, what="the GMI critic layout", where=where, fix=CRITIC_FIX)
    return critic.eval()


